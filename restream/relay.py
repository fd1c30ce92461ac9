"""Relays: a camera that another node (or worker) ingests, pulled here too while RTSP clients watch it.

With several nodes, or `--workers`, a camera's sources are opened only where its lease is held
(cluster/keeper.py); the RTSP restream runs on one worker per node, so most cameras are ingested by
some other process. When a client asks this restream for such a camera, a relay opens the camera's
stream here (its own RTSP session at the camera, the URL resolved and checked as the camera's own feed
does it) into a hub of its own, which the restream's media reads. A relay tells nobody about the
camera's state (the owner does: no state history, alerts or recording from here), and it is let go
`relay_idle_s` after its last reader left.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime

from streams.camera import Camera
from streams.feed import Feed, StreamName
from streams.hub import StreamHub
from streams.state import CameraState

log = logging.getLogger(__name__)

#: How long a client's DESCRIBE waits for a new relay's first streams (the camera's open).
RELAY_WAIT_S = 2.5
#: How often idle relays are looked for.
REAP_EVERY_S = 1.0


class _Quiet:
    """A relay's feed listener: the camera's state is its owner's to say."""

    def feed_connecting(self, feed: Feed) -> None:
        pass

    def feed_up(self, feed: Feed) -> None:
        pass

    def feed_down(self, feed: Feed, reason: str, next_retry_at: datetime | None) -> None:
        pass


@dataclass
class _Relay:
    feed: Feed
    task: asyncio.Task[None]
    idle_since: float | None = None


class Relays:
    """The relays of one restream; `run()` owns their tasks (on the gateway's loop)."""

    def __init__(self, hub_queue: int, idle_s: float, wait_s: float = RELAY_WAIT_S) -> None:
        self._hub_queue = hub_queue
        self._idle_s = idle_s
        self._wait_s = wait_s
        self._relays: dict[tuple[str, StreamName], _Relay] = {}
        self._tasks: asyncio.TaskGroup | None = None

    async def run(self) -> None:
        """Keep the relays until cancelled, letting idle ones go; on the way out every relay stops."""
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                while True:
                    await asyncio.sleep(REAP_EVERY_S)
                    self._reap(time.monotonic())
        finally:
            self._tasks = None
            self._relays.clear()

    async def hub_for(self, camera: Camera, stream: StreamName) -> StreamHub | None:
        """The hub a restream media of `camera`'s `stream` reads: the camera's own while it delivers
        here; a relay's while another node ingests it (started now if needed, its first streams waited
        for up to wait_s); None when neither has the stream (the camera is offline, or not ours)."""
        own = camera.feed(stream)
        if own is None:
            return None
        if own.hub.streams:
            return own.hub
        if camera.status.state is not CameraState.REMOTE or self._tasks is None:
            return None
        relay = self._relays.get((camera.id, own.name)) or self._start(camera, own, self._tasks)
        relay.idle_since = None
        deadline = time.monotonic() + self._wait_s
        while not relay.feed.hub.streams:
            if time.monotonic() >= deadline or relay.task.done():
                return None
            await asyncio.sleep(0.05)
        return relay.feed.hub

    def stop(self, camera_id: str) -> None:
        """The camera was removed or changed: its relays stop (their readers end with them)."""
        for key in [key for key in self._relays if key[0] == camera_id]:
            self._relays.pop(key).task.cancel()

    def active(self) -> list[tuple[str, str]]:
        """(camera, stream) of the relays running now."""
        return [(camera, str(stream)) for camera, stream in self._relays]

    def _start(self, camera: Camera, own: Feed, tasks: asyncio.TaskGroup) -> _Relay:
        feed = Feed(own.name, own.config, self._hub_queue, camera.clock, _Quiet(), own.resolver,
                    guard=own.guard)
        log.info("rtsp: camera %s (%s) is ingested by another node; relaying it here for RTSP clients",
                 camera.id, own.name, extra={"camera": camera.id})
        relay = _Relay(feed, tasks.create_task(_run(feed), name=f"rtsp:relay-{camera.id}-{own.name}"))
        self._relays[(camera.id, own.name)] = relay
        return relay

    def _reap(self, now: float) -> None:
        for key, relay in list(self._relays.items()):
            if relay.feed.hub.subscriber_count:
                relay.idle_since = None
                continue
            if relay.idle_since is None:
                relay.idle_since = now
            elif now - relay.idle_since >= self._idle_s:
                log.info("rtsp: relay of camera %s (%s) let go: nobody watched it for %.0f s", key[0], key[1],
                         self._idle_s, extra={"camera": key[0]})
                del self._relays[key]
                relay.task.cancel()


async def _run(feed: Feed) -> None:
    """A relay's feed until cancelled; a fault in it ends that relay only (its task is done, so the next
    client gets 503 until the relay is let go and started afresh), never the restream."""
    try:
        await feed.run()
    except Exception:
        log.exception("rtsp: relay of camera %s (%s) failed", feed.camera_id, feed.name,
                      extra={"camera": feed.camera_id})
