"""Alembic environment: one chain for SQLite (batch mode) and PostgreSQL, async drivers."""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import Connection

from alembic import context
from core.db import Base, make_engine

# Every package's tables must be imported so autogenerate sees one MetaData.
import fleet.camerastore  # noqa: F401
import fleet.retentionchanges  # noqa: F401
import alerts.outbox  # noqa: F401
import desk.models  # noqa: F401
import evidence.models  # noqa: F401
import camera_events.store  # noqa: F401
import cases.models  # noqa: F401
import cluster.models  # noqa: F401
import policy.dispositions.models  # noqa: F401
import policy.audit.models  # noqa: F401
import policy.identity.models  # noqa: F401
import recorder.models  # noqa: F401
import streams.models  # noqa: F401

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("no database url: pass -x url=... or set sqlalchemy.url")
    return url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = make_engine(_url())
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
