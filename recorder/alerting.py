"""The recorder's alerts: storage full and back, storage low, and a camera that is online but
records nothing (`recording.stalled`) until its next sealed segment (`recording.resumed`).

It sits between the recorder and its report sink: every report goes on to the access log as
before, and the ones that matter to the room are published too. A watch loop checks for stalls
and for free space.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from core.alerting import AlertKind, Notice, Publisher
from core.alertsconfig import AlertsConfig
from core.clock import Clock
from recorder.reports import RecordingEvent, RecordingEventKind, RecordingEventSink
from recorder.status import disk_free
from streams.camera import Camera

log = logging.getLogger(__name__)

WATCH_S = 1.0
FREE_SPACE_EVERY_S = 30.0
# storage.low clears (storage.ok) only with this much more than the warning floor, so a disk that
# hovers at the floor does not flap.
LOW_CLEAR_FACTOR = 1.1


class RecordingAlerts:
    """A `RecordingEventSink` that passes every report on and publishes alerts; `run()` watches."""

    def __init__(
        self,
        inner: RecordingEventSink,
        publisher: Publisher,
        cameras: Mapping[str, Camera],
        clock: Clock,
        segment_s: float,
        config: AlertsConfig,
        storage: Path,
        records_here: Callable[[str], bool] = lambda _camera: True,
    ) -> None:
        self._inner = inner
        #: Whether this node records the camera now (several nodes: only while it holds the lease);
        #: a camera another node records is not stalled here.
        self._records_here = records_here
        self._publisher = publisher
        self._cameras = cameras
        self._clock = clock
        self._stall_after_s = config.stall_factor * segment_s
        self._low_floor = config.storage_low_free_bytes
        self._storage = storage
        #: Monotonic time of each camera's last progress: a sealed segment, or coming up.
        self._progress: dict[str, float] = {}
        self._stalled: set[str] = set()
        self._was_up: dict[str, bool] = {}
        self._low = False

    async def record(self, event: RecordingEvent) -> None:
        if event.kind is RecordingEventKind.SEGMENT_SEALED and event.camera is not None:
            self._progress[event.camera] = self._clock.monotonic()
            if event.camera in self._stalled:
                self._stalled.discard(event.camera)
                self._publisher.publish(Notice(AlertKind.RECORDING_RESUMED, event.camera))
        elif event.kind is RecordingEventKind.STORAGE_FULL:
            self._publisher.publish(Notice(AlertKind.STORAGE_FULL, None, {"problem": event.reason}))
        elif event.kind is RecordingEventKind.STORAGE_RESUMED:
            self._publisher.publish(Notice(AlertKind.STORAGE_OK, None, {"after": "full", "reason": event.reason}))
        await self._inner.record(event)

    async def run(self) -> None:
        """Check for stalls every second and for free space every half minute, until cancelled."""
        free_at = 0.0
        while True:
            now = self._clock.monotonic()
            self._check_stalls(now)
            if now >= free_at:
                free_at = now + FREE_SPACE_EVERY_S
                await self._check_free_space()
            await asyncio.sleep(WATCH_S)

    def _check_stalls(self, now: float) -> None:
        for camera_id, camera in list(self._cameras.items()):
            recorded = camera.config.record and camera.config.enabled and self._records_here(camera_id)
            up = recorded and camera.status.state.up
            if up and not self._was_up.get(camera_id, False):
                self._progress[camera_id] = now  # it gets a full stall period from coming up
            self._was_up[camera_id] = up
            if not up or camera_id in self._stalled:
                continue
            idle = now - self._progress.get(camera_id, now)
            if idle > self._stall_after_s:
                self._stalled.add(camera_id)
                log.error("camera %s is online but nothing was sealed for %.0f s", camera_id, idle)
                self._publisher.publish(Notice(AlertKind.RECORDING_STALLED, camera_id, {"seconds": int(idle)}))

    async def _check_free_space(self) -> None:
        try:
            free, _ = await asyncio.to_thread(disk_free, self._storage)
        except OSError:
            return
        if not self._low and free < self._low_floor:
            self._low = True
            self._publisher.publish(Notice(AlertKind.STORAGE_LOW, None, {
                "free_bytes": free, "free_gib": round(free / 1024**3, 1), "floor_bytes": self._low_floor}))
        elif self._low and free >= self._low_floor * LOW_CLEAR_FACTOR:
            self._low = False
            self._publisher.publish(Notice(AlertKind.STORAGE_OK, None, {"after": "low", "free_bytes": free}))
