"""The database's clock, the only clock the cluster decides by (nodes' clocks differ), and the
guard that keeps cluster/ off SQLite."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import PantauError


class ClusterUnsupported(PantauError):
    """Cluster tables used on a database that serves one process (SQLite)."""

    title = "Several nodes need PostgreSQL"
    kind = "cluster-unsupported"


def require_postgresql(session: AsyncSession) -> None:
    """Raise unless `session` talks to PostgreSQL (its row locks and clock are what leases rely on)."""
    name = session.get_bind().dialect.name
    if name != "postgresql":
        raise ClusterUnsupported(f"cluster leases and the node registry need PostgreSQL, not {name}")


async def database_now(session: AsyncSession) -> datetime:
    """The database's time now (timezone-aware), in `session`'s transaction."""
    require_postgresql(session)
    now = await session.scalar(select(func.statement_timestamp()))
    assert now is not None
    return now
