"""Running the alembic chain from code (`pantau migrate`, and `pantau serve` on start)."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from alembic import command

# alembic/ sits beside the packages at the top of the repository (see pyproject.toml).
SCRIPT_LOCATION = Path(__file__).resolve().parent.parent / "alembic"


def _config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    """Upgrade the database at `url` to the newest schema. Synchronous: call it off the loop."""
    if url.startswith("sqlite"):
        db_path = url.split(":///", 1)[1] if ":///" in url else ""
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(_config(url), "head")


def current_head() -> str:
    """The newest revision in the chain."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config("sqlite+aiosqlite://")).get_current_head() or ""
