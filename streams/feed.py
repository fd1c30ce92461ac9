"""One stream of a camera (its main stream, or its sub-stream): the source in a worker thread, the hub
it feeds, its stats, the stall watch and the reconnect backoff.

A `Camera` owns one feed, or two when it has a sub-stream; the feed tells its `FeedListener` (the
camera) when it connects, comes up and goes down, and the camera turns that into its state.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from core.backoff import Backoff
from core.clock import Clock
from core.config import CameraConfig
from core.errors import SourceError
from streams.hub import StreamHub
from streams.destination import DestinationGuard
from streams.openpace import OpenPace
from streams.packet import MediaPacket, StreamInfo
from streams.source import SourceThread
from streams.stats import StreamStats

log = logging.getLogger(__name__)

# A connection that delivered packets this long counts as healthy and resets the
# backoff; one that drops right after connecting (a camera at its client limit, a
# crashing encoder) keeps backing off instead of hammering the camera.
STABLE_AFTER_S = 10.0


class StreamName(enum.StrEnum):
    """Which of a camera's streams a feed carries."""

    MAIN = "main"
    SUB = "sub"


#: A source's own checks report here: problem name -> readable text, or None when cleared.
ProblemReport = Callable[[str, str | None], None]


class UrlResolver(Protocol):
    """Finds the URL to open on every (re)connect (an onvif:// stream asks the device); raises
    SourceError, retried with backoff like a failed open, and may report problems (clock drift)."""

    async def resolve(self, report: ProblemReport) -> str: ...


class FeedListener(Protocol):
    """Told what one feed's connection does (on the loop, in order)."""

    def feed_connecting(self, feed: Feed) -> None: ...

    def feed_up(self, feed: Feed) -> None: ...

    def feed_down(self, feed: Feed, reason: str, next_retry_at: datetime | None) -> None: ...


class Feed:
    """One of a camera's streams pulled into its own StreamHub; `run()` reconnects until cancelled.

    `config` is the camera's config with `source` set to this stream's URL.
    """

    def __init__(
        self,
        name: StreamName,
        config: CameraConfig,
        hub_queue: int,
        clock: Clock,
        listener: FeedListener,
        resolver: UrlResolver | None = None,
        report: ProblemReport | None = None,
        pace: OpenPace | None = None,
        guard: DestinationGuard | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.camera_id = config.id
        self.clock = clock
        #: Resolves the URL to open on every connect (onvif://); None: open config.source.
        self.resolver = resolver
        #: The gateway's open turns (streams/openpace.py); None: open at once.
        self.pace = pace
        #: Checks where the source resolves on every connect and pins rtsp:// to that address
        #: (streams/destination.py); None: libav resolves the name itself.
        self.guard = guard
        self.hub = StreamHub(config.id if name is StreamName.MAIN else f"{config.id}/{name}", hub_queue)
        self.stats = StreamStats(extra_dropped=lambda: self.hub.dropped_total)
        #: Whether the stream is delivering (connected and not stalled).
        self.up = False
        #: Why the last connection ended or failed ("" before the first).
        self.reason = ""
        self._listener = listener
        self._report = report or _ignore
        self.backoff = Backoff(config.backoff)
        self._connections = 0
        #: Streams of the connection that are dropped here (the camera's sound when `audio: false`).
        self._muted: frozenset[int] = frozenset()
        self._opened_at: float | None = None
        self._last_packet_at: float | None = None
        self._retry_due = 0.0
        self._down_noted = False

    @property
    def label(self) -> str:
        """How logs name this feed: "camera x" or "camera x sub-stream"."""
        return f"camera {self.camera_id}" + (" sub-stream" if self.name is StreamName.SUB else "")

    @property
    def video(self) -> StreamInfo | None:
        """The current connection's video stream, if any."""
        return next((s for s in self.hub.streams if s.kind == "video"), None)

    async def run(self) -> None:
        """Connect, read until the connection ends, back off, again; no worker thread outlives this call."""
        loop = asyncio.get_running_loop()
        while True:
            self._down_noted = False
            self._listener.feed_connecting(self)
            try:
                reason = await self._connect_once()
            except SourceError as exc:
                reason = exc.detail
                if not exc.retriable:
                    self._give_up(reason)
                    await asyncio.Event().wait()
            if not self._down_noted:
                self._down(reason)
            await asyncio.sleep(max(0.0, self._retry_due - loop.time()))

    def parked(self, reason: str) -> None:
        """Ingest stopped on purpose (its run() was cancelled): the hub's viewers learn why, and the
        stream is down without a retry (another node ingests it)."""
        if self.hub.streams:
            self.hub.set_streams((), reason)
        self.up = False
        self.reason = reason

    def _give_up(self, reason: str) -> None:
        """A failure that retrying cannot cure (a refused scheme, bad credentials): down for good."""
        self.hub.set_streams((), reason)
        self.up = False
        self.reason = reason
        self.backoff.attempt += 1
        self._down_noted = True
        log.error("%s: %s; not retrying", self.label, reason, extra={"camera": self.camera_id})
        self._listener.feed_down(self, reason, None)

    def _down(self, reason: str) -> None:
        """Down at once, with the next attempt scheduled."""
        if self.hub.streams:
            self.hub.set_streams((), reason)
        if self._was_stable():
            self.backoff.reset()
        delay = self.backoff.next_delay()
        self._retry_due = asyncio.get_running_loop().time() + delay
        retry_at = self.clock.now() + timedelta(seconds=delay)
        self.up = False
        self.reason = reason
        self._down_noted = True
        log.warning("%s: offline (%s); retry %d in %.1f s", self.label, reason, self.backoff.attempt, delay,
                    extra={"camera": self.camera_id})
        self._listener.feed_down(self, reason, retry_at)

    def _was_stable(self) -> bool:
        opened, last = self._opened_at, self._last_packet_at
        return opened is not None and last is not None and last - opened >= STABLE_AFTER_S

    async def _resolve(self) -> CameraConfig:
        """The config to open this time: the resolver's URL in place of the configured source."""
        if self.resolver is None:
            return self.config
        try:
            url = await self.resolver.resolve(self._report)
        except SourceError:
            raise
        except Exception as exc:  # a resolver bug must not end the camera's task
            log.exception("%s: resolving the source failed unexpectedly", self.label)
            raise SourceError(f"resolving the source failed: unexpected {type(exc).__name__}") from exc
        return self.config.model_copy(update={"source": url})

    async def _connect_once(self) -> str:
        """One connection from open to end; returns why it ended, raises SourceError on failure."""
        if self.pace is not None:
            await self.pace.turn()  # not every camera in the same second (a start, a network back)
        cfg = await self._resolve()
        if self.guard is not None:
            cfg = await self.guard.pin(cfg)
        self._opened_at = self._last_packet_at = None
        ended: list[str | SourceError] = []
        worker = SourceThread(cfg, asyncio.get_running_loop(), self._opened, self._packets, ended.append)
        worker.start()
        # Cancellation waits for the thread: at most one open or one read timeout.
        limit = cfg.open_timeout_s + cfg.read_timeout_s + 2.0
        started = self.clock.monotonic()
        try:
            tick = min(1.0, cfg.stall_timeout_s / 4)
            while not worker.done.done():
                await asyncio.wait([worker.done], timeout=tick)
                if worker.done.done():
                    break
                if self._opened_at is None:
                    # PyAV bounds the open by open_timeout_s; this only guards against a
                    # library that ignores it, so the camera cannot sit in "connecting".
                    if self.clock.monotonic() - started > cfg.open_timeout_s + 5.0:
                        reason = f"open did not return within {cfg.open_timeout_s:g} s"
                        self._down(reason)
                        return reason
                    continue
                silent = self.clock.monotonic() - (self._last_packet_at or self._opened_at)
                if silent >= cfg.stall_timeout_s:
                    reason = f"stalled: no packet for {cfg.stall_timeout_s:g} s"
                    # Down now: the thread may sit in a read for up to read_timeout_s more.
                    self._down(reason)
                    return reason
        finally:
            await worker.wait_stopped(limit)
        end = ended[0] if ended else "stopped"
        if isinstance(end, SourceError):
            raise end
        return end

    def _opened(self, streams: tuple[StreamInfo, ...]) -> None:
        """On the loop: the worker connected."""
        self._connections += 1
        if self._connections > 1:
            self.stats.note_reconnect()
        self._opened_at = self.clock.monotonic()
        streams = self._heard(streams)
        self.stats.set_streams(streams)
        self.hub.set_streams(streams)
        video = next((s for s in streams if s.kind == "video"), None)
        log.info("%s: connected, %s%s", self.label,
                 f"{video.codec} {video.width}x{video.height}" if video else "audio only",
                 ", its sound dropped (audio: false)" if self._muted else "",
                 extra={"camera": self.camera_id})
        self.up = True
        self._listener.feed_up(self)

    def _packets(self, batch: list[MediaPacket], dropped: int) -> None:
        """On the loop: a batch of packets from the worker."""
        if dropped:
            self.stats.note_dropped(dropped)
            log.warning("%s: event loop fell behind, %d packets dropped", self.label, dropped,
                        extra={"camera": self.camera_id})
        if not batch:
            return
        self._last_packet_at = self.clock.monotonic()
        stats, hub, muted = self.stats, self.hub, self._muted
        for packet in batch:
            if muted and packet.stream in muted:
                continue
            stats.update(packet)
            hub.publish(packet)

    def _heard(self, streams: tuple[StreamInfo, ...]) -> tuple[StreamInfo, ...]:
        """The streams the hub carries. With `audio: false` the camera's sound stops here, the one
        place every consumer (recorder, live viewers, stats) takes packets from: it is neither
        recorded nor served, and no later setting can bring back what was never kept."""
        if self.config.audio:
            self._muted = frozenset()
            return streams
        self._muted = frozenset(s.index for s in streams if s.kind == "audio")
        return tuple(s for s in streams if s.kind != "audio")


def _ignore(name: str, text: str | None) -> None:
    """A feed without a problem sink (tests)."""
