"""This process as a node: registered on entry, a heartbeat every renew_s while `run()` runs (a task
the gateway's TaskGroup owns), marked stopped on the way out."""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cluster.registry import NodeRegistry
from core.clusterconfig import ClusterConfig

log = logging.getLogger(__name__)


class Membership:
    """One node's place in the registry, for as long as the `async with` lasts."""

    def __init__(self, db: async_sessionmaker[AsyncSession], config: ClusterConfig, node_id: str, url: str) -> None:
        self.registry = NodeRegistry(db, node_id)
        self.config = config
        self.url = url

    @property
    def node_id(self) -> str:
        return self.registry.node_id

    async def __aenter__(self) -> Membership:
        await self.registry.register(self.url, self.config.capacity)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self.registry.mark_stopped()
        except (SQLAlchemyError, OSError) as error:
            # The database is away: the heartbeat goes stale instead, which others read the same way.
            log.warning("node %s could not be marked stopped: %s", self.node_id, error, extra={"node": self.node_id})

    async def run(self) -> None:
        """Heartbeat every renew_s until cancelled. A failed heartbeat is logged and retried on the next
        tick (the node is stale to others meanwhile); a row someone removed is registered again."""
        while True:
            await asyncio.sleep(self.config.renew_s)
            try:
                if not await self.registry.heartbeat():
                    log.warning("node %s was not in the registry; registering again", self.node_id,
                                extra={"node": self.node_id})
                    await self.registry.register(self.url, self.config.capacity)
            except (SQLAlchemyError, OSError) as error:
                log.warning("node %s heartbeat failed: %s", self.node_id, error, extra={"node": self.node_id})
