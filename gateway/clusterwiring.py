"""The cluster's wiring, part of the composition root: joining the registry (a worker of several as
NODE/wK at its own port, gateway/workerslot.py), the node's heartbeat, the lease keeper that makes
leases drive ingest and recording, and the read of who owns each camera (for the API, live WHEP's
redirect and the CORS origins of the other nodes)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from contextlib import AsyncExitStack

from camera_events.service import EventService
from cluster.keeper import LeaseKeeper
from cluster.leases import LeaseBook
from cluster.membership import Membership
from cluster.owners import CameraOwners
from cluster.reach import DatabaseReach
from fleet.camerafleet import CameraFleet
from gateway.services import Services
from gateway.workerslot import WorkerSlot
from webrtc.sessions import WhepSessions


class FleetIngest:
    """The fleet as the keeper drives it (cluster/keeper.py LeasedIngest): a camera's sources and its
    ONVIF event subscription open under its lease; when the lease ends its live viewers are told (the
    wall reconnects to the new owner), its subscription ends, then its sources close."""

    def __init__(self, fleet: CameraFleet, webrtc: WhepSessions, events: EventService) -> None:
        self._fleet = fleet
        self._webrtc = webrtc
        self._events = events

    def leased_cameras(self) -> list[str]:
        return self._fleet.leased_cameras()

    def ingest_acquired(self, camera_id: str) -> None:
        self._fleet.ingest_acquired(camera_id)
        if (camera := self._fleet.cameras.get(camera_id)) is not None:
            self._events.camera_added(camera)

    async def ingest_ended(self, camera_id: str, reason: str) -> None:
        await self._webrtc.end_live(camera_id, f"camera moved to another node ({reason})")
        if (camera := self._fleet.cameras.get(camera_id)) is not None:
            await self._events.camera_removed(camera)
        await self._fleet.ingest_ended(camera_id, reason)


async def join_cluster(
    stack: AsyncExitStack, services: Services, port: int, worker: WorkerSlot | None = None,
    private_port: int | None = None, tls: bool = False,
) -> Membership | None:
    """With cluster enabled, register this process as a node (its id and URL default to the host
    name and the port it listens on; a worker's to NODE/wK and its own port), marked stopped when
    `stack` closes."""
    settings = services.settings
    if not settings.cluster_enabled:
        return None
    cfg, host = settings.cluster, socket.gethostname()
    if worker is not None and private_port is not None:
        node_id, url = worker.node_id(cfg, host), worker.advertise_url(cfg, host, private_port, tls)
    else:
        node_id, url = cfg.node_id_for(host, port), cfg.advertise_url_for(host, port)
    membership = Membership(services.db, cfg, node_id, url)
    return await stack.enter_async_context(membership)


async def start_cluster(tasks: asyncio.TaskGroup, services: Services, membership: Membership,
                        on_nodes: Callable[[frozenset[str]], None]) -> None:
    """Run the node's tasks in `tasks`: heartbeat, lease keeper, owners' read (`on_nodes` is told the
    running nodes' origins after each). The keeper's first round runs before this returns, so a node
    serves the cameras it takes at start from its first request on (a lone node: all of them)."""
    cfg = services.settings.cluster
    services.node_id = membership.node_id
    services.owners = CameraOwners(services.db, membership.node_id, cfg.renew_s, on_nodes)
    services.cluster_reach = DatabaseReach()
    keeper = LeaseKeeper(LeaseBook(services.db, membership.node_id, cfg.lease_s), services.recorder, cfg,
                         services.db, ingest=FleetIngest(services.fleet, services.webrtc, services.events),
                         reach=services.cluster_reach)
    services.fleet.on_added(lambda _camera: keeper.wake())
    await services.owners.read_once()
    # Nothing awaited between this round and the keeper's task, whose way out releases what it took.
    await keeper.tick()
    tasks.create_task(membership.run(), name="node-heartbeat")
    tasks.create_task(keeper.run(), name="camera-leases")
    tasks.create_task(services.owners.run(), name="camera-owners")
