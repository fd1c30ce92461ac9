"""The node registry: a node registers when it starts, heartbeats while it runs and is marked stopped
on a clean shutdown; anyone lists the nodes with their heartbeat ages. Every time is the database's."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cluster.dbclock import database_now, require_postgresql
from cluster.models import Node

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """A registered node as the database saw it at `now`."""

    node_id: str
    url: str
    capacity: int
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None
    #: The database's time when this was read.
    now: datetime

    @property
    def heartbeat_age_s(self) -> float:
        """Seconds since the last heartbeat, on the database's clock."""
        return max(0.0, (self.now - self.heartbeat_at).total_seconds())


_REGISTER = text(
    "INSERT INTO nodes (node_id, url, capacity, started_at, heartbeat_at, stopped_at) "
    "VALUES (:node_id, :url, :capacity, statement_timestamp(), statement_timestamp(), NULL) "
    "ON CONFLICT (node_id) DO UPDATE SET url = excluded.url, capacity = excluded.capacity, "
    "started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, stopped_at = NULL"
)
_HEARTBEAT = text(
    "UPDATE nodes SET heartbeat_at = statement_timestamp(), stopped_at = NULL WHERE node_id = :node_id"
)
_STOPPED = text(
    "UPDATE nodes SET heartbeat_at = statement_timestamp(), stopped_at = statement_timestamp() "
    "WHERE node_id = :node_id"
)


class NodeRegistry:
    """Reads and writes the `nodes` table for one node (`node_id`) or for an onlooker (`listed`)."""

    def __init__(self, db: async_sessionmaker[AsyncSession], node_id: str) -> None:
        self._db = db
        self.node_id = node_id

    async def register(self, url: str, capacity: int) -> None:
        """Enter this node (again after a restart: its start and heartbeat are now, no longer stopped)."""
        async with self._db() as session:
            require_postgresql(session)
            await session.execute(_REGISTER, {"node_id": self.node_id, "url": url, "capacity": capacity})
            await session.commit()
        log.info("node %s registered at %s (capacity %d)", self.node_id, url, capacity,
                 extra={"node": self.node_id})

    async def heartbeat(self) -> bool:
        """Stamp this node alive now; False when its row is gone (someone removed it: register again)."""
        async with self._db() as session:
            require_postgresql(session)
            result = await session.execute(_HEARTBEAT, {"node_id": self.node_id})
            await session.commit()
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def mark_stopped(self) -> None:
        """A clean shutdown: the node says it is gone instead of letting its heartbeat go stale."""
        async with self._db() as session:
            require_postgresql(session)
            await session.execute(_STOPPED, {"node_id": self.node_id})
            await session.commit()
        log.info("node %s marked stopped", self.node_id, extra={"node": self.node_id})


async def list_nodes(db: async_sessionmaker[AsyncSession]) -> list[NodeRecord]:
    """Every registered node, by id, with the database's time of reading (for the ages)."""
    async with db() as session:
        now = await database_now(session)
        rows = (await session.scalars(select(Node).order_by(Node.node_id))).all()
    return [NodeRecord(r.node_id, r.url, r.capacity, r.started_at, r.heartbeat_at, r.stopped_at, now) for r in rows]
