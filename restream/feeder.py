"""Feeds one prepared RTSP media from a camera's hub: every packet of the media's streams into its
appsrc, untouched, stamped on the media's running time. Runs on the gateway's event loop (the hub is
used only there); pushing into an appsrc never blocks (block=false, leaky)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from streams.bitstream import extradata_to_annexb, with_parameter_sets
from streams.hub import StreamHub, Subscription
from streams.packet import MediaPacket, StreamChange, StreamInfo

log = logging.getLogger(__name__)

# Packets queued for the media before the hub drops the oldest and restarts it at a keyframe:
# ~4 s of 30 fps video with its sound. The media pushes them on at once, so it only fills when
# the event loop itself stalls.
FEED_QUEUE = 256
# After the camera reconnects its timestamps restart; continue 40 ms after the last one sent.
RESUME_GAP_NS = 40_000_000
SECOND_NS = 1_000_000_000
# How long the feeder waits for its media to reach PLAYING (a live media does so within milliseconds
# of being prepared; a busy machine may take longer), and how often it looks.
PLAYING_WAIT_S = 5.0
PLAYING_POLL_S = 0.01


class Sink(Protocol):
    """An appsrc as the feeder uses it (restream/media.py wraps GstApp.AppSrc)."""

    def push(self, data: bytes, pts_ns: int | None, dts_ns: int | None, keyframe: bool) -> None: ...

    def running_time_ns(self) -> int | None: ...


def to_ns(ts: int, info: StreamInfo) -> int:
    """`ts` in the stream's time base, in nanoseconds."""
    return ts * info.time_base.numerator * SECOND_NS // info.time_base.denominator


#: Where each stream's packets go: stream index -> (the media's slot, the stream).
Route = dict[int, tuple[int, StreamInfo]]


def route_streams(codecs: Sequence[tuple[str, str]], streams: Sequence[StreamInfo]) -> tuple[Route, bytes | None]:
    """The media's slots (`codecs`: kind and codec of each, video first) matched to `streams`, and
    the video's parameter sets in Annex B. A stream whose codec the media does not carry has no slot
    (a media's caps are fixed when it is built)."""
    route: Route = {}
    used: set[int] = set()
    for info in streams:
        for slot, (kind, codec) in enumerate(codecs):
            if slot not in used and info.kind == kind and info.codec == codec:
                route[info.index] = (slot, info)
                used.add(slot)
                break
    video = next((info for slot, info in route.values() if slot == 0), None)
    return route, extradata_to_annexb(video.codec, video.extradata) if video else None


class MediaFeeder:
    """Copies a hub's packets of `streams` (the media's: video, maybe sound) into `sinks` (same order)
    until stopped; `fed(n)` counts the bytes handed over."""

    def __init__(self, name: str, hub: StreamHub, streams: Sequence[StreamInfo], sinks: Sequence[Sink],
                 fed: Callable[[int], None]) -> None:
        self.name = name
        self._hub = hub
        self._codecs = [(s.kind, s.codec) for s in streams]
        self._sinks = list(sinks)
        self._fed = fed
        self._subscription: Subscription | None = None
        self._route: Route = {}  # hub stream index -> (sink, stream)
        self._parameter_sets: bytes | None = None
        # Camera time (ns) that maps to _base on the media's running time; set by the first packet
        # of a connection.
        self._origin: int | None = None
        self._base = 0
        self._last = 0
        self._stopped = False

    async def run(self) -> None:
        """Feed until stop() or cancellation; leaves the hub on the way out."""
        subscription = self._hub.subscribe(f"rtsp:{self.name}", FEED_QUEUE)
        self._subscription = subscription
        if self._stopped:
            subscription.close()
        # A live media goes to PLAYING as it is prepared, before it needs data; until then its running
        # time is unknown, so the first packet (and with it the media's clock) waits for it. The
        # packets meanwhile wait in the subscription.
        for _ in range(round(PLAYING_WAIT_S / PLAYING_POLL_S)):
            if self._stopped or self._sinks[0].running_time_ns() is not None:
                break
            await asyncio.sleep(PLAYING_POLL_S)  # GStreamer's state has no awaitable; polled, briefly
        async with subscription:
            async for item in subscription:
                if isinstance(item, StreamChange):
                    self._on_change(item)
                else:
                    self._push(item)

    def stop(self) -> None:
        """The media was unprepared: leave the hub (run() returns)."""
        self._stopped = True
        if self._subscription is not None:
            self._subscription.close()

    def _on_change(self, change: StreamChange) -> None:
        # The media's caps were fixed when it was built: a stream whose codec changed since is not
        # fed (its clients see the media stall; they reconnect and get a media of the new codec).
        self._route, self._parameter_sets = route_streams(self._codecs, change.streams)
        if change.streams and 0 not in {slot for slot, _ in self._route.values()}:
            log.warning("rtsp %s: the camera now sends %s, the media carries %s: not fed until it reconnects",
                        self.name, [s.codec for s in change.streams if s.kind == "video"], self._codecs[0][1])
        if self._origin is not None:
            self._base = self._last + RESUME_GAP_NS
        self._origin = None

    def _push(self, packet: MediaPacket) -> None:
        route = self._route.get(packet.stream)
        if route is None:
            return
        slot, info = route
        if slot == 0 and self._origin is None and not packet.is_keyframe:
            return  # the hub starts video at a keyframe; sound before it has no picture to go with
        raw = packet.pts if packet.pts is not None else packet.dts
        if self._origin is None:
            if slot != 0 or raw is None:
                return
            self._origin = to_ns(raw, info)
            self._base = max(self._base, self._start_time(packet))
        if slot != 0 and (raw is None or to_ns(raw, info) < self._origin):
            return  # sound from before the first picture (or untimed: it cannot be placed)
        pts = self._stamp(packet.pts, info)
        dts = self._stamp(packet.dts, info)
        data = packet.data
        if slot == 0 and packet.is_keyframe:
            data = with_parameter_sets(data, self._parameter_sets, info.codec)
        self._sinks[slot].push(data, pts, dts, packet.is_keyframe)
        if pts is not None:
            self._last = max(self._last, pts)
        self._fed(len(data))

    def _stamp(self, ts: int | None, info: StreamInfo) -> int | None:
        if ts is None or self._origin is None:
            return None
        return max(0, self._base + to_ns(ts, info) - self._origin)

    def _start_time(self, packet: MediaPacket) -> int:
        """Where the first packet goes on the media's running time: when it arrived, so a cached GOP
        (up to seconds old) is sent at once and the live packets after it on time. A media younger
        than the cached GOP cannot go that far back (no running time before 0): its clients get the
        picture up to that much later than it arrived, for as long as the media lives."""
        now = self._sinks[0].running_time_ns()
        if now is None:
            return 0
        return max(0, now - int((time.monotonic() - packet.received) * SECOND_NS))
