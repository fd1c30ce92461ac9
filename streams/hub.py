"""Per-camera packet fan-out: bounded drop-oldest queues and a GOP cache for late joiners."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from types import TracebackType

from streams.packet import MediaPacket, StreamChange, StreamInfo

log = logging.getLogger(__name__)

Item = MediaPacket | StreamChange

# A new viewer must start at a keyframe (passthrough cannot ask the camera for one), so
# the hub keeps the packets since the latest keyframe. GOPs of 2 s at 25 fps are 50
# packets; 300 packets / 8 MB covers a 10 s GOP at ~6 Mbit/s. A longer GOP is not cached
# (the keyframe alone still is), so memory stays bounded whatever the camera sends.
GOP_MAX_PACKETS = 300
GOP_MAX_BYTES = 8 * 1024 * 1024


class Subscription:
    """One consumer's view of a hub: async iterator of packets and stream changes."""

    def __init__(
        self, hub: StreamHub, name: str, maxsize: int, backlog: list[Item], lossy: bool = False,
        keyframes_only: bool = False,
    ) -> None:
        self.hub = hub
        self.name = name
        self.maxsize = maxsize
        #: Gets stream changes and video keyframes only (a sampler); the hub filters, so the
        #: consumer is not woken for every packet.
        self.keyframes_only = keyframes_only
        #: Drops expected by design (a sampler); counted here but not in hub.dropped_total.
        self.lossy = lossy
        self.dropped = 0
        self.closed = False
        # The GOP snapshot taken on subscribe; bounded by the GOP cache caps, consumed first.
        self._backlog: deque[Item] = deque(backlog)
        self._queue: deque[Item] = deque()
        self._waiter: asyncio.Future[None] | None = None
        # Video must start at a keyframe: on joining, after a reconnect, and after a drop
        # (the next packets reference a missing frame). Skips count as drops only after a drop.
        self._resync = True
        self._resync_counts = False

    def _put(self, item: Item) -> None:
        """Enqueue without blocking; drop the oldest packet when full."""
        queue = self._queue
        if len(queue) >= self.maxsize:
            oldest = queue.popleft()
            if isinstance(oldest, StreamChange):
                # Codec changes must reach the consumer; sacrifice the packet after it.
                if queue:
                    queue.popleft()
                queue.appendleft(oldest)
            self._count_drop()
            self._resync = self._resync_counts = True
        queue.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _count_drop(self) -> None:
        self.dropped += 1
        if not self.lossy:
            self.hub.dropped_total += 1

    def qsize(self) -> int:
        """Items waiting to be read (backlog and live)."""
        return len(self._backlog) + len(self._queue)

    def _next_nowait(self) -> Item | None:
        while True:
            if self._backlog:
                item = self._backlog.popleft()
            elif self._queue:
                item = self._queue.popleft()
            else:
                return None
            if isinstance(item, StreamChange):
                self._resync = True
            elif self._resync and self.hub.is_video(item.stream):
                if not item.is_keyframe:
                    if self._resync_counts:
                        self._count_drop()
                    continue
                self._resync = self._resync_counts = False
            return item

    async def get(self) -> Item:
        """Next item, waiting if none is queued; raises StopAsyncIteration once closed."""
        while True:
            if self.closed:
                raise StopAsyncIteration
            item = self._next_nowait()
            if item is not None:
                return item
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def close(self) -> None:
        """Unsubscribe; a pending get() ends with StopAsyncIteration."""
        if self.closed:
            return
        self.closed = True
        self.hub._unsubscribe(self)
        self._queue.clear()
        self._backlog.clear()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Item:
        return await self.get()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class StreamHub:
    """Fans one camera's packets out to subscribers; use only from the event loop thread."""

    def __init__(self, camera_id: str, queue_size: int) -> None:
        self.camera_id = camera_id
        self.queue_size = queue_size
        self.streams: tuple[StreamInfo, ...] = ()
        self.dropped_total = 0
        self.packets_total = 0
        self._subscribers: list[Subscription] = []
        self._keyframe_subscribers: list[Subscription] = []
        self._video: frozenset[int] = frozenset()
        self._gop: list[MediaPacket] = []
        self._gop_bytes = 0
        self._gop_overflow = False
        self._keyframe: MediaPacket | None = None

    @property
    def subscriber_count(self) -> int:
        """Number of open subscriptions."""
        return len(self._subscribers) + len(self._keyframe_subscribers)

    def is_video(self, stream: int) -> bool:
        """Whether stream index `stream` is a video stream of the current source."""
        return stream in self._video

    def set_streams(self, streams: tuple[StreamInfo, ...], reason: str = "") -> None:
        """The source (re)connected with `streams`, or stopped (empty tuple) for `reason`."""
        self.streams = streams
        self._video = frozenset(s.index for s in streams if s.kind == "video")
        self._clear_gop()
        self._keyframe = None
        change = StreamChange(streams, reason)
        for sub in self._subscribers:
            sub._put(change)
        for sub in self._keyframe_subscribers:
            sub._put(change)

    def publish(self, packet: MediaPacket) -> None:
        """Hand `packet` to every subscriber; never blocks."""
        self.packets_total += 1
        if packet.stream in self._video:
            if packet.is_keyframe:
                self._keyframe = packet
                self._clear_gop()
                self._cache(packet)
                for sub in self._keyframe_subscribers:
                    sub._put(packet)
            elif self._gop and not self._gop_overflow:
                self._cache(packet)
        elif self._gop and not self._gop_overflow:
            self._cache(packet)  # audio after the keyframe belongs to the GOP too
        for sub in self._subscribers:
            sub._put(packet)

    def cached_gop(self) -> tuple[MediaPacket, ...]:
        """The packets since the newest keyframe (the keyframe first), as a new viewer gets them;
        empty when there is none yet or the GOP was too long to cache."""
        return () if self._gop_overflow else tuple(self._gop)

    def latest_keyframe(self) -> MediaPacket | None:
        """The newest video keyframe of the current connection, if any."""
        return self._keyframe

    def subscribe(
        self, name: str, maxsize: int | None = None, lossy: bool = False, keyframes_only: bool = False
    ) -> Subscription:
        """A new subscription: current streams first, then the cached GOP, then live packets.

        `lossy` marks a consumer that drops by design (a keyframe sampler): its drops are
        not counted in `dropped_total`, which should mean someone lost video they wanted.
        `keyframes_only` hands it stream changes and video keyframes, nothing else.
        """
        backlog: list[Item] = []
        if self.streams:
            backlog.append(StreamChange(self.streams))
            if keyframes_only:
                if self._keyframe is not None:
                    backlog.append(self._keyframe)
            elif not self._gop_overflow:
                # A GOP too long to cache is left out: the subscriber waits for the next keyframe.
                backlog.extend(self._gop)
        sub = Subscription(self, name, maxsize or self.queue_size, backlog, lossy, keyframes_only)
        (self._keyframe_subscribers if keyframes_only else self._subscribers).append(sub)
        log.debug("camera %s: subscriber %s joined", self.camera_id, name)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        try:
            (self._keyframe_subscribers if sub.keyframes_only else self._subscribers).remove(sub)
        except ValueError:
            return
        if sub.dropped:
            log.info(
                "camera %s: subscriber %s left, %d packets dropped", self.camera_id, sub.name, sub.dropped
            )

    def _cache(self, packet: MediaPacket) -> None:
        size = len(packet.data)
        if len(self._gop) >= GOP_MAX_PACKETS or self._gop_bytes + size > GOP_MAX_BYTES:
            self._gop_overflow = True
            self._gop = []
            self._gop_bytes = 0
            return
        self._gop.append(packet)
        self._gop_bytes += size

    def _clear_gop(self) -> None:
        self._gop = []
        self._gop_bytes = 0
        self._gop_overflow = False
