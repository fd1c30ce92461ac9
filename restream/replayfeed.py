"""Feeds one RTSP replay media from a camera's sealed segments: the packets of a recorded window, in
real time, stamped on the media's running time, untouched (no decode, no transcode).

The media is built at DESCRIBE but the client plays it only after PLAY, and where it starts may only be
known then (ONVIF's `Range: clock=` comes with PLAY). So the feeder first pushes the video's parameter
sets alone (no picture: GStreamer's server needs one buffer per stream to give the media its caps and
the SDP its sprop-parameter-sets) and, with sound, the window's first sound packet (a client hears
those few milliseconds once more at the start), then waits. At each PLAY it reads from the asked time, or from where it was: from
the keyframe at or before it (a decoder needs it), across segments, skipping gaps (the timeline runs
on 40 ms after the last frame before a gap). At the window's end it ends the stream (RTCP BYE).
Runs on the gateway's event loop; pushing never blocks (the feeder stays `LEAD_NS` ahead of the
media's clock, well inside the appsrc's queue).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.utctime import from_epoch
from recorder.reader import GapMarker, ReadItem, SegmentOpened
from restream.feeder import PLAYING_POLL_S, PLAYING_WAIT_S, RESUME_GAP_NS, SECOND_NS, Route, Sink, route_streams
from restream.replayrequest import Window
from streams.bitstream import extradata_to_annexb, with_parameter_sets
from streams.packet import MediaPacket, StreamInfo

log = logging.getLogger(__name__)

# How far ahead of the media's clock packets are pushed: the server's sinks send each at its time.
LEAD_NS = 300_000_000
# The first packet after PLAY goes this long after the PLAY was answered (the client's transport is
# set up by then).
START_DELAY_NS = 50_000_000
# The longest single wait for the clock (a PAUSE stops it; the feeder looks again).
MAX_WAIT_S = 0.5


class ReplaySink(Sink, Protocol):
    """An appsrc as the replay uses it: the live feeder's, and the end of the stream."""

    def end(self) -> None: ...


class Recordings(Protocol):
    """The part of recorder.reader.SegmentReader a replay needs."""

    def read(self, camera: str, start: datetime, end: datetime) -> AsyncIterator[ReadItem]: ...


@dataclass(frozen=True, slots=True)
class Play:
    """PLAY: from `start` (None: where the replay was; at first, the window's start) until `end`
    (None: the window's end)."""

    start: datetime | None = None
    end: datetime | None = None


class _Pause:
    pass


class _Stop:
    pass


PAUSE, STOP = _Pause(), _Stop()
Command = Play | _Pause | _Stop


@dataclass
class Sent:
    """What a replay has handed to its media: for the access log's playback_stop."""

    bytes: int = 0
    frames: int = 0
    first: datetime | None = None  # recorded time of the first frame sent
    last: datetime | None = None  # ...and of the last
    ended: bool = False  # the window's end was reached (the stream ended)


class ReplayFeeder:
    """Pushes `camera`'s recording in `window` into `sinks` (the media's streams, same order) on each
    Play; `fed(n)` counts the bytes handed over."""

    def __init__(self, name: str, recordings: Recordings, camera: str, window: Window,
                 streams: Sequence[StreamInfo], sinks: Sequence[ReplaySink],
                 fed: Callable[[int], None] = lambda _n: None, sound_primer: bytes | None = None) -> None:
        self.name = name
        self.window = window
        self.sent = Sent()
        self._recordings = recordings
        self._camera = camera
        self._codecs = [(s.kind, s.codec) for s in streams]
        self._parameter_sets = extradata_to_annexb(streams[0].codec, streams[0].extradata)
        self._sound_primer = sound_primer
        self._sinks = list(sinks)
        self._fed = fed
        self._commands: asyncio.Queue[Command] = asyncio.Queue()
        self._last_ns = 0  # the latest timestamp pushed
        self._position: datetime | None = None  # recorded time of the last video frame pushed

    def play(self, start: datetime | None = None, end: datetime | None = None) -> None:
        """A PLAY was answered: (re)start at `start`, or go on from where the replay was."""
        self._commands.put_nowait(Play(start, end))

    def pause(self) -> None:
        """A PAUSE: stop pushing (a later Play goes on from the last keyframe sent)."""
        self._commands.put_nowait(PAUSE)

    def stop(self) -> None:
        """The media was unprepared: run() returns."""
        self._commands.put_nowait(STOP)

    async def run(self) -> None:
        """Prime the media, then replay on each Play until stop() or cancellation."""
        if not await self._playing():
            return
        now = self._sinks[0].running_time_ns() or 0
        if self._parameter_sets is not None:
            self._sinks[0].push(self._parameter_sets, now, now, True)
        if self._sound_primer is not None and len(self._sinks) > 1:
            self._sinks[1].push(self._sound_primer, now, now, True)
        self._last_ns = now
        reading: asyncio.Task[None] | None = None
        try:
            while True:
                command = await self._commands.get()
                if reading is not None:
                    reading.cancel()
                    await asyncio.wait([reading])
                    reading = None
                if isinstance(command, _Stop):
                    return
                if isinstance(command, Play):
                    if self.sent.ended:
                        log.info("rtsp replay %s: PLAY after the stream ended; the client must reconnect", self.name)
                        continue
                    start = command.start or self._position or self.window.start
                    end = command.end or self.window.end
                    if start < end:
                        reading = asyncio.create_task(self._read(Window(start, end)), name=f"rtsp-replay:{self.name}")
        finally:
            if reading is not None:
                reading.cancel()
                await asyncio.wait([reading])

    async def _playing(self) -> bool:
        """Until the media runs (its running time is known); False when it never does."""
        for _ in range(round(PLAYING_WAIT_S / PLAYING_POLL_S)):
            if self._sinks[0].running_time_ns() is not None:
                return True
            await asyncio.sleep(PLAYING_POLL_S)  # GStreamer's state has no awaitable; polled, briefly
        log.warning("rtsp replay %s: the media did not start", self.name)
        return False

    async def _read(self, window: Window) -> None:
        now = self._sinks[0].running_time_ns() or 0
        base = max(now + START_DELAY_NS, self._last_ns + RESUME_GAP_NS)
        origin: float | None = None  # recorded time (epoch s) that goes out at `base`
        route: Route = {}
        sets: bytes | None = None
        items = self._recordings.read(self._camera, window.start, window.end)
        try:
            async for item in items:
                if isinstance(item, SegmentOpened):
                    route, sets = route_streams(self._codecs, item.streams)
                    if 0 not in {slot for slot, _ in route.values()}:
                        log.warning("rtsp replay %s: the recording at %s is in another codec; the replay ends there",
                                    self.name, item.start)
                        break
                    continue
                if isinstance(item, GapMarker):
                    if origin is not None:
                        base, origin = self._last_ns + RESUME_GAP_NS, None
                    continue
                target = route.get(item.stream)
                if target is None or item.wallclock >= window.end.timestamp():
                    continue
                slot, info = target
                if origin is None:
                    if slot != 0 or not item.is_keyframe:
                        continue  # start at a keyframe; sound before the first picture has none to go with
                    origin = item.wallclock
                elif item.wallclock < origin:
                    continue
                pts = base + round((item.wallclock - origin) * SECOND_NS)
                await self._until(pts - LEAD_NS)
                self._push(slot, info, item, pts, sets)
        finally:
            await items.aclose()  # type: ignore[attr-defined]  # the reader's generator: end it now
        self.sent.ended = True
        for sink in self._sinks:
            sink.end()

    async def _until(self, target_ns: int) -> None:
        while True:
            now = self._sinks[0].running_time_ns()
            if now is not None and now >= target_ns:
                return
            wait = (target_ns - now) / SECOND_NS if now is not None else MAX_WAIT_S
            await asyncio.sleep(min(wait, MAX_WAIT_S))

    def _push(self, slot: int, info: StreamInfo, packet: MediaPacket, pts: int, sets: bytes | None) -> None:
        lead = 0
        if packet.pts is not None and packet.dts is not None and packet.pts > packet.dts:
            lead = (packet.pts - packet.dts) * info.time_base.numerator * SECOND_NS // info.time_base.denominator
        data = packet.data
        if slot == 0 and packet.is_keyframe:
            data = with_parameter_sets(data, sets, info.codec)
        self._sinks[slot].push(data, pts, pts - lead, packet.is_keyframe)
        self._last_ns = max(self._last_ns, pts)
        self._fed(len(data))
        self.sent.bytes += len(data)
        if slot == 0:
            at = from_epoch(packet.wallclock)
            self.sent.frames += 1
            self.sent.first = self.sent.first or at
            self.sent.last = at
            if packet.is_keyframe:
                self._position = at
