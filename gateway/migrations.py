"""Running the alembic chain from code (`pantau migrate`, and `pantau serve` on start)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic.config import Config

from alembic import command


def script_location() -> Path:
    """The alembic script directory (env.py, versions/), shipped inside the gateway package.

    It is package data, so it is found the same way in a checkout, an editable install and a
    wheel installed into site-packages.
    """
    location = resources.files("gateway") / "alembic"
    # alembic reads the chain from the file system; a zipped install has no directory to give it.
    if not isinstance(location, Path) or not (location / "env.py").is_file():
        raise RuntimeError(f"the alembic chain is missing from the installed gateway package ({location})")
    return location


def _config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location()))
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
