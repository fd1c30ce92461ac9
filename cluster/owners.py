"""Where each camera is ingested: the node holding its unexpired lease and that node's advertised
URL, read every renew_s by every node so any node can answer for any camera (the API says who owns
it, live WHEP redirects there) and allow the other nodes' pages in CORS."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cluster.dbclock import require_postgresql

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NodeRef:
    """A node as a viewer reaches it: its id and advertised URL (no trailing slash)."""

    node_id: str
    url: str

    @property
    def origin(self) -> str:
        """scheme://host[:port] of the URL: what a page it serves sends as Origin."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"


# An owner that never registered (or was removed) has no URL: it is listed without one.
_OWNERS = text(
    "SELECT l.camera_id, l.owner, n.url FROM camera_leases l LEFT JOIN nodes n ON n.node_id = l.owner "
    "WHERE l.expires_at > statement_timestamp()"
)
_NODES = text("SELECT node_id, url FROM nodes WHERE stopped_at IS NULL")


class CameraOwners:
    """The last read of who owns each camera; `run()` refreshes it every `refresh_s` (safe to cancel).
    `on_nodes(origins)` is told the running nodes' origins after each read."""

    def __init__(
        self, db: async_sessionmaker[AsyncSession], node_id: str, refresh_s: float,
        on_nodes: Callable[[frozenset[str]], None] | None = None,
    ) -> None:
        self._db = db
        self.node_id = node_id
        self.refresh_s = refresh_s
        self._on_nodes = on_nodes
        #: Camera id -> the node holding its unexpired lease (as last read).
        self.by_camera: dict[str, NodeRef] = {}
        #: Node id -> the node, for every node registered and not stopped.
        self.nodes: dict[str, NodeRef] = {}

    def owner_of(self, camera_id: str) -> NodeRef | None:
        """The node that held `camera_id`'s lease at the last read; None: nobody (between leases)."""
        return self.by_camera.get(camera_id)

    async def refresh(self) -> None:
        """Read the leases and nodes now."""
        async with self._db() as session:
            require_postgresql(session)
            leases = (await session.execute(_OWNERS)).all()
            nodes = (await session.execute(_NODES)).all()
        self.nodes = {r.node_id: NodeRef(r.node_id, r.url.rstrip("/")) for r in nodes}
        self.by_camera = {r.camera_id: NodeRef(r.owner, (r.url or "").rstrip("/")) for r in leases}
        if self._on_nodes is not None:
            self._on_nodes(frozenset(n.origin for n in self.nodes.values() if n.url))

    async def read_once(self) -> None:
        """`refresh()`; a failed read keeps the last one (logged)."""
        try:
            await self.refresh()
        except (SQLAlchemyError, OSError) as error:
            log.warning("node %s: could not read camera owners: %s", self.node_id, error, extra={"node": self.node_id})

    async def run(self) -> None:
        """Refresh every refresh_s until cancelled."""
        while True:
            await asyncio.sleep(self.refresh_s)
            await self.read_once()
