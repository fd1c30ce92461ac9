"""The events service: one ONVIF event subscription per camera, a recent-events buffer, live listeners.

Owned by the composition root (`run()` in its TaskGroup). Each ONVIF camera gets its own
task, so a camera that hangs or fails affects nobody else; a camera onboarded while running
is added through `camera_added`. Every event goes to a bounded memory buffer, to the
database through the `EventStore` (when `events.store`) and to the live listeners. Tamper and video-loss alarms also become camera
problems (health warnings) while active, through the camera's problem hook.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from core.alerting import AlertKind, Discard, Notice, Publisher
from core.clock import Clock
from core.config import EventsConfig
from core.taskmap import TaskMap
from camera_events.store import EventStore
from onvif_adapters.client import OnvifClient
from onvif_adapters.subscription import CameraEvent, EventSubscriber, SubscriptionSettings
from onvif_adapters.source import OnvifSource
from onvif_adapters.topics import EventKind
from streams.camera import Camera

log = logging.getLogger(__name__)

ALARM_KINDS = frozenset({EventKind.MOTION, EventKind.TAMPER, EventKind.DIGITAL_INPUT})
# One alarm per camera and kind in this time; the event list and the SSE stream still get every event.
ALARM_REPEAT_S = 30.0

# Alarms that are also camera health problems, with the text shown as the camera's reason.
HEALTH_ALARMS = {EventKind.TAMPER: "tamper alarm (camera reports tampering)", EventKind.VIDEO_LOSS: "video loss"}

#: How a camera's ONVIF device is reached: a factory of clients, or None for a non-ONVIF camera.
ClientFactory = Callable[[Camera], Callable[[], OnvifClient] | None]


def onvif_source(camera: Camera) -> OnvifSource | None:
    """The camera's ONVIF side if its source is onvif://, else None."""
    resolver = getattr(camera, "resolver", None)
    return resolver if isinstance(resolver, OnvifSource) else None


def onvif_clients(camera: Camera) -> Callable[[], OnvifClient] | None:
    """A factory of ONVIF clients for the camera's device, or None for a non-ONVIF camera."""
    source = onvif_source(camera)
    return source.client if source is not None else None


@dataclass(frozen=True, slots=True)
class EventQuery:
    cameras: Collection[str]
    kind: EventKind | None = None
    since: datetime | None = None
    limit: int = 100


class Listener:
    """One live consumer (an SSE stream): a bounded queue that drops its oldest when it falls behind."""

    def __init__(self, cameras: Callable[[str], bool], size: int) -> None:
        self.wants = cameras
        #: Events in arrival order; None once the service stops (the stream should end).
        self.queue: asyncio.Queue[CameraEvent | None] = asyncio.Queue(size)
        self.dropped = 0

    def offer(self, event: CameraEvent) -> None:
        if self.wants(event.camera):
            self._put(event)

    def close(self) -> None:
        """Tell the consumer the service is stopping."""
        self._put(None)

    def _put(self, item: CameraEvent | None) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(item)


class EventService:
    """Runs every ONVIF camera's event subscription and keeps what they report."""

    def __init__(
        self,
        settings: EventsConfig,
        clock: Clock,
        cameras: Mapping[str, Camera],
        clients: ClientFactory,
        store: EventStore | None = None,
        alerts: Publisher | None = None,
        here: Callable[[str], bool] = lambda _camera_id: True,
    ) -> None:
        self.settings = settings
        #: Whether this process subscribes to a camera's events: several nodes, only the one that
        #: ingests it (its lease holder; the keeper adds and removes it as the lease moves).
        self._here = here
        self._alerts = alerts or Discard()
        self._last_alarm: dict[tuple[str, EventKind], float] = {}
        #: The database copy of every event (None: memory only, lost on restart).
        self.store = store
        self._clock = clock
        self._cameras = cameras
        self._clients = clients
        self.recent: deque[CameraEvent] = deque(maxlen=settings.recent)
        self.subscribers: dict[str, EventSubscriber] = {}
        self._running = TaskMap()
        self._listeners: set[Listener] = set()
        self._tasks: asyncio.TaskGroup | None = None
        self._subscription = SubscriptionSettings(
            termination_s=settings.subscription_s,
            pull_timeout_s=settings.pull_timeout_s,
            retry_initial_s=settings.retry_initial_s,
            retry_max_s=settings.retry_max_s,
        )

    async def run(self) -> None:
        """Subscribe every ONVIF camera until cancelled (each unsubscribes on the way out)."""
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            if self.store is not None:
                tasks.create_task(self.store.run(), name="events:store")
            try:
                for camera in list(self._cameras.values()):
                    self._start(camera)
                await asyncio.Event().wait()
            finally:
                self._tasks = None
                # Live streams end now, so the HTTP server's shutdown does not wait on them.
                for listener in list(self._listeners):
                    listener.close()

    def camera_added(self, camera: Camera) -> None:
        """A camera onboarded or changed while running: subscribe it too."""
        if self._tasks is not None:
            self._start(camera)

    async def camera_removed(self, camera: Camera) -> None:
        """A camera about to be stopped (changed while running): unsubscribe it, and wait for that."""
        await self._running.stop(camera.id)
        self.subscribers.pop(camera.id, None)

    def _start(self, camera: Camera) -> None:
        assert self._tasks is not None
        if not (self.settings.enabled and camera.config.enabled and self._here(camera.id)) or camera.id in self.subscribers:
            return
        factory = self._clients(camera)
        if factory is None:
            return
        subscriber = EventSubscriber(camera.id, factory, self._clock, self.publish, self._subscription)
        self.subscribers[camera.id] = subscriber
        self._running.start(self._tasks, camera.id, self._run_one(subscriber), f"events:{camera.id}")

    async def _run_one(self, subscriber: EventSubscriber) -> None:
        try:
            await subscriber.run()
        except Exception:
            # A bug met on one camera's messages must not take the others (or the gateway) down.
            subscriber.state = "failed"
            log.exception("camera %s: event subscription failed; no events from it", subscriber.camera_id)

    def publish(self, event: CameraEvent) -> None:
        """Keep `event`, hand it to live listeners, and raise or clear a health alarm."""
        self.recent.append(event)
        if self.store is not None:
            self.store.add(event)
        for listener in list(self._listeners):
            listener.offer(event)
        self._alarm(event)
        text = HEALTH_ALARMS.get(event.kind)
        camera = self._cameras.get(event.camera)
        if text is not None and camera is not None:
            camera.set_source_problem(event.kind.value, text if event.active else None)
        log.info(
            "camera %s: %s %s (%s)", event.camera, event.kind.value, "on" if event.active else "off", event.topic,
            extra={"camera": event.camera},
        )

    def _alarm(self, event: CameraEvent) -> None:
        """Motion, tamper and digital inputs going active become `camera.alarm`, at most one per
        camera and kind every ALARM_REPEAT_S (a busy street's motion would otherwise be a storm)."""
        if not event.active or event.initial or event.kind not in ALARM_KINDS:
            return
        now = self._clock.monotonic()
        key = (event.camera, event.kind)
        if now - self._last_alarm.get(key, -ALARM_REPEAT_S) < ALARM_REPEAT_S:
            return
        self._last_alarm[key] = now
        self._alerts.publish(Notice(AlertKind.CAMERA_ALARM, event.camera, {"alarm": event.kind.value, "topic": event.topic}))

    @property
    def listeners(self) -> int:
        """Live streams open now."""
        return len(self._listeners)

    async def find(self, q: EventQuery) -> list[CameraEvent]:
        """Events matching `q`, newest first: from the database when stored, else from memory."""
        if self.store is not None:
            return await self.store.query(set(q.cameras), q.kind, q.since, q.limit)
        return self.query(q)

    async def between(self, cameras: Collection[str], start: datetime, end: datetime, limit: int) -> list[CameraEvent]:
        """Events of `cameras` in [start, end), oldest first: from the database when stored, else from memory."""
        if self.store is not None:
            return await self.store.between(set(cameras), start, end, limit)
        found = [e for e in self.recent if e.camera in cameras and start <= e.at < end]
        return sorted(found, key=lambda e: e.at)[:limit]

    def query(self, q: EventQuery) -> list[CameraEvent]:
        """Events in the memory buffer matching `q`, newest first."""
        found: list[CameraEvent] = []
        for event in reversed(self.recent):
            if q.since is not None and event.at < q.since:
                break  # the buffer is in arrival order
            if event.camera in q.cameras and (q.kind is None or event.kind is q.kind):
                found.append(event)
                if len(found) >= q.limit:
                    break
        return found

    @contextmanager
    def listen(self, cameras: Callable[[str], bool]) -> Iterator[Listener]:
        """A live listener for events of the cameras `cameras(id)` accepts, while the block runs."""
        listener = Listener(cameras, self.settings.listener_queue)
        self._listeners.add(listener)
        try:
            yield listener
        finally:
            self._listeners.discard(listener)
