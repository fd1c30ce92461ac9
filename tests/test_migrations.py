"""One alembic chain on both backends, matching the models exactly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from core.db import Base, make_engine
from gateway.migrations import current_head, upgrade

ROOT = Path(__file__).resolve().parent.parent


async def test_schema_matches_models(db_url: str) -> None:
    # Every table the chain creates (the same list as gateway/alembic/env.py).
    import alerts.outbox  # noqa: F401
    import camera_events.store  # noqa: F401
    import cases.models  # noqa: F401
    import cluster.models  # noqa: F401
    import desk.models  # noqa: F401
    import evidence.models  # noqa: F401
    import fleet.camerastore  # noqa: F401
    import policy.audit.models  # noqa: F401
    import policy.dispositions.models  # noqa: F401
    import policy.identity.models  # noqa: F401
    import recorder.models  # noqa: F401
    import streams.models  # noqa: F401

    def diff(conn: Connection) -> list[object]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert ctx.get_current_revision() == current_head()
        return list(compare_metadata(ctx, Base.metadata))

    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == []


def test_upgrade_is_idempotent_on_postgresql(empty_pg_url: str) -> None:
    upgrade(empty_pg_url)
    upgrade(empty_pg_url)


def test_migrate_command_creates_sqlite_database(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "p.db"
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "migrate"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PANTAU_DATABASE__URL": f"sqlite+aiosqlite:///{db}",
             "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert db.exists()
