"""Helpers shared by the access-log tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.clock import ManualClock
from core.db import make_engine
from policy.audit.accesslog import AccessLog
from policy.audit.entries import AccessAction, AccessEvent
from policy.audit.signednote import NoteSigner

ORIGIN = "pantau/access-log"
ACTIONS = list(AccessAction)


def new_signer() -> NoteSigner:
    return NoteSigner(ORIGIN, Ed25519PrivateKey.generate())


def event(i: int) -> AccessEvent:
    """A varied, realistic event."""
    action = ACTIONS[i % len(ACTIONS)]
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=i)
    return AccessEvent(
        action=action,
        actor=f"user{i % 7}",
        role="operator",
        client=f"10.0.0.{i % 250}",
        camera=f"cam-{i % 5}",
        start=start if action in (AccessAction.PLAYBACK_START, AccessAction.EXPORT) else None,
        end=start + timedelta(seconds=30) if action in (AccessAction.PLAYBACK_START, AccessAction.EXPORT) else None,
        outcome="deny" if i % 11 == 0 else "ok",
        reason="outside visibility" if i % 11 == 0 else "",
        token_id=f"tok-{i}" if "token" in action else None,
        details={"n": i, "ratio": 0.5, "flag": True, "note": "ünïcode"},
    )


@asynccontextmanager
async def open_log(
    url: str, signer: NoteSigner | None = None, clock: ManualClock | None = None, **kwargs: object
) -> AsyncIterator[tuple[AccessLog, AsyncEngine]]:
    engine = make_engine(url)
    try:
        yield AccessLog(engine, signer or new_signer(), origin=ORIGIN, clock=clock or ManualClock(), **kwargs), engine  # type: ignore[arg-type]
    finally:
        await engine.dispose()


async def bypass_triggers(conn: AsyncConnection) -> None:
    """What a superuser or the table owner can do: switch the append-only triggers off in this transaction."""
    if conn.dialect.name == "postgresql":
        for table in ("access_log", "access_log_checkpoints"):
            await conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
    else:
        # Python's sqlite3 opens a transaction only before DML, and would autocommit the DROP:
        # a DML that touches nothing opens it, so a rollback restores the triggers.
        await conn.execute(text("DELETE FROM access_log WHERE 1 = 0"))
        for table in ("access_log", "access_log_checkpoints"):
            await conn.execute(text(f"DROP TRIGGER {table}_no_update"))
            await conn.execute(text(f"DROP TRIGGER {table}_no_delete"))
