"""The running cameras: those configured at start and those onboarded while running.

One owner for every camera task. Parts that keep per-camera state (the recorder, the
disposition workflow) are told about a camera added at run time through `on_added`
listeners set by the composition root, so nothing needs a restart to see it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from core.config import CameraConfig
from core.errors import Conflict, Unavailable
from streams.camera import Camera

log = logging.getLogger(__name__)

CameraFactory = Callable[[CameraConfig], Camera]
Listener = Callable[[Camera], Awaitable[None] | None]


class CameraFleet:
    """Builds cameras with `make`, runs each in its own task, adds cameras while running."""

    def __init__(self, make: CameraFactory, configs: Iterable[CameraConfig] = ()) -> None:
        self._make = make
        #: Shared with the HTTP layer and the recorder: cameras by id, in start order.
        self.cameras: dict[str, Camera] = {}
        self._listeners: list[Listener] = []
        self._tasks: asyncio.TaskGroup | None = None
        for cfg in configs:
            self.cameras[cfg.id] = make(cfg)

    def on_added(self, listener: Listener) -> None:
        """Call `listener(camera)` for every camera added after start."""
        self._listeners.append(listener)

    async def run(self) -> None:
        """Run every camera until cancelled (a disabled camera's run() only reports it)."""
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            try:
                for cam in list(self.cameras.values()):
                    tasks.create_task(cam.run(), name=f"camera:{cam.id}")
                await asyncio.Event().wait()
            finally:
                self._tasks = None

    async def add(self, cfg: CameraConfig) -> Camera:
        """Start a new camera now; 409 if its id is taken."""
        if cfg.id in self.cameras:
            raise Conflict(f"camera {cfg.id!r} already exists")
        if self._tasks is None:
            raise Unavailable("cameras are not running (starting or stopping)")
        cam = self._make(cfg)
        self.cameras[cfg.id] = cam
        self._tasks.create_task(cam.run(), name=f"camera:{cam.id}")
        for listener in self._listeners:
            result = listener(cam)
            if result is not None:
                await result
        log.info("camera %s added while running (%s)", cfg.id, cfg.display_source, extra={"camera": cfg.id})
        return cam
