"""The running cameras: those configured at start and those onboarded while running.

One owner for every camera task. Parts that keep per-camera state (the recorder, the event
subscriptions, the disposition workflow, live viewers) are told about a camera added or
replaced at run time through `on_added` / `on_removed` listeners set by the composition
root, so nothing needs a restart to see it.

Several nodes (`follows_leases`): a camera is ingested (its RTSP sessions, health sampling, the hub
its recorder and viewers read) only while this node holds its lease; cluster/keeper.py says when
through `ingest_acquired` / `ingest_ended`. The others show it as ingested elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from core.config import CameraConfig
from core.errors import Conflict, NotFound, Unavailable
from core.taskmap import TaskMap
from streams.camera import Camera

log = logging.getLogger(__name__)

CameraFactory = Callable[[CameraConfig], Camera]
Listener = Callable[[Camera], Awaitable[None] | None]
#: Why a camera is not ingested here while another node holds (or nobody yet holds) its lease.
NOT_HELD = "ingested by the node that holds its lease"


class CameraFleet:
    """Builds cameras with `make`, runs each in its own task, adds and replaces cameras while running."""

    def __init__(self, make: CameraFactory, configs: Iterable[CameraConfig] = (), follows_leases: bool = False) -> None:
        self._make = make
        self.follows_leases = follows_leases
        #: Following leases: the cameras this node holds the lease of (only these are ingested).
        self._owned: set[str] = set()
        #: Shared with the HTTP layer and the recorder: cameras by id, in start order.
        self.cameras: dict[str, Camera] = {}
        self._added: list[Listener] = []
        self._removed: list[Listener] = []
        self._tasks: asyncio.TaskGroup | None = None
        self._running = TaskMap()
        self._changing = asyncio.Lock()  # one add or replace at a time
        for cfg in configs:
            self.cameras[cfg.id] = make(cfg)

    def on_added(self, listener: Listener) -> None:
        """Call `listener(camera)` for every camera added after start (replacements included)."""
        self._added.append(listener)

    def on_removed(self, listener: Listener) -> None:
        """Call `listener(camera)` before a running camera is stopped to be replaced, and again
        after it stopped (so it must be idempotent)."""
        self._removed.append(listener)

    async def run(self) -> None:
        """Run every camera until cancelled (a disabled camera's run() only reports it)."""
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            try:
                for cam in list(self.cameras.values()):
                    self._run_if_owned(cam)
                await asyncio.Event().wait()
            finally:
                self._tasks = None

    def leased_cameras(self) -> list[str]:
        """The cameras a node takes a lease on to ingest them (every enabled one), by id."""
        return sorted(c.id for c in self.cameras.values() if c.config.enabled)

    def ingests(self, camera_id: str) -> bool:
        """Whether this node ingests `camera_id` (always, unless following leases; a disabled camera is
        nobody's, and every node answers for it)."""
        camera = self.cameras.get(camera_id)
        return (not self.follows_leases or camera_id in self._owned
                or (camera is not None and not camera.config.enabled))

    def ingest_acquired(self, camera_id: str) -> None:
        """This node holds `camera_id`'s lease: open its sources (now, or once `run()` starts)."""
        self._owned.add(camera_id)
        camera = self.cameras.get(camera_id)
        if camera is not None and self._tasks is not None and camera_id not in self._running:
            log.info("camera %s: ingest starts here (lease held)", camera_id, extra={"camera": camera_id})
            self._running.start(self._tasks, camera_id, camera.run(), f"camera:{camera_id}")

    async def ingest_ended(self, camera_id: str, reason: str) -> None:
        """This node no longer holds `camera_id`'s lease (its writers sealed already): close its
        sources before this returns, so the camera has one RTSP session from the cluster."""
        self._owned.discard(camera_id)
        await self._running.stop(camera_id)
        camera = self.cameras.get(camera_id)
        if camera is not None:
            camera.ingested_elsewhere(reason)
            log.info("camera %s: ingest stopped here (%s)", camera_id, reason, extra={"camera": camera_id})

    def _run_if_owned(self, cam: Camera) -> None:
        assert self._tasks is not None
        if self.ingests(cam.id):
            self._running.start(self._tasks, cam.id, cam.run(), f"camera:{cam.id}")
        else:
            cam.ingested_elsewhere(NOT_HELD)

    async def add(self, cfg: CameraConfig) -> Camera:
        """Start a new camera now; 409 if its id is taken."""
        async with self._changing:
            if cfg.id in self.cameras:
                raise Conflict(f"camera {cfg.id!r} already exists")
            cam = await self._start(cfg)
        log.info("camera %s added while running (%s)", cfg.id, cfg.display_source, extra={"camera": cfg.id})
        return cam

    async def replace(self, cfg: CameraConfig) -> Camera:
        """Stop the camera with `cfg.id` (its listeners first: recordings sealed, viewers told),
        then start it again with `cfg`; 404 if there is no such camera."""
        async with self._changing:
            old = self.cameras.get(cfg.id)
            if old is None:
                raise NotFound(f"no camera {cfg.id!r}")
            if self._tasks is None:
                raise Unavailable("cameras are not running (starting or stopping)")
            for listener in self._removed:
                await _call(listener, old)
            await self._running.stop(cfg.id)
            # Once more now that it is stopped: a viewer or PTZ command that reached the old
            # camera in between must not stay attached to it (listeners are idempotent).
            for listener in self._removed:
                await _call(listener, old)
            cam = await self._start(cfg)  # same place in `cameras`: lists keep their order
        log.info("camera %s changed while running (%s)", cfg.id, cfg.display_source, extra={"camera": cfg.id})
        return cam

    async def _start(self, cfg: CameraConfig) -> Camera:
        if self._tasks is None:
            raise Unavailable("cameras are not running (starting or stopping)")
        cam = self._make(cfg)
        self.cameras[cfg.id] = cam
        self._run_if_owned(cam)
        for listener in self._added:
            await _call(listener, cam)
        return cam


async def _call(listener: Listener, camera: Camera) -> None:
    result = listener(camera)
    if result is not None:
        await result
