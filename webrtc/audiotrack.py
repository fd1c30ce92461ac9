"""The sound of a live WHEP session: the camera's audio from the hub, G.711 passed through as it
is, anything else decoded into frames that aiortc encodes (Opus), paced with the picture."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from fractions import Fraction

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from streams.hub import Subscription
from streams.packet import MediaPacket, StreamChange, StreamInfo
from webrtc.audiocodec import PASSTHROUGH, AudioChoice
from webrtc.audioframes import DISCONTINUITY_S, G711_RATE, PcmShaper, Piece, g711_pieces, seconds
from webrtc.lipsync import MAX_HOLD_S, LipSync

log = logging.getLogger(__name__)

# Sound this late is not sent (the hub's cached GOP on joining, a stalled loop): a burst of old
# sound would fill the viewer's jitter buffer and play behind the picture until it drains.
STALE_S = 0.2
# A packet taken from the hub this long after it arrived is old (it may have waited out the
# lip-sync hold of the one before it, up to MAX_HOLD_S).
OLD_S = MAX_HOLD_S + STALE_S
# A jump in the camera's audio time up to this long (lost packets) moves the RTP clock on by as
# much, so the viewer conceals a gap; longer or backwards jumps (a reconnect) move it one piece.
MAX_GAP_S = 2.0
# RTP times this close to where the previous piece ended are taken as continuing it (rounding).
ROUNDING = 2


def audio_frame(piece: Piece, rate: int, pts: int) -> av.AudioFrame:
    """An s16 mono AudioFrame of a decoded piece, stamped in 1/rate."""
    frame = av.AudioFrame(format="s16", layout="mono", samples=piece.samples)
    frame.planes[0].update(piece.data)
    frame.sample_rate = rate
    frame.pts = pts
    frame.time_base = Fraction(1, rate)
    return frame


class RtpClock:
    """RTP times (in 1/rate) of pieces of sound from their times: the receiver lines sound up
    with the picture by them, so they follow the times exactly, across gaps; a jump back, or
    forward by more than `max_gap_s` (the camera reconnected), starts a new origin one piece on."""

    def __init__(self, rate: int, max_gap_s: float | None = MAX_GAP_S) -> None:
        self.rate = rate
        self._max_gap = max_gap_s
        self._origin: float | None = None  # the time that maps to self._base
        self._base = 0
        self._next: int | None = None  # RTP time right after the last piece

    def stamp(self, at: float, samples: int) -> int:
        """The RTP time of a piece of `samples` (in 1/rate) starting at time `at` (seconds)."""
        if self._origin is None or self._next is None:
            self._origin, self._base = at, 0
        else:
            jump = at - (self._origin + (self._next - self._base) / self.rate)
            if jump < -DISCONTINUITY_S or (self._max_gap is not None and jump > self._max_gap):
                self._origin, self._base = at, self._next + self.rate // 50
        ts = self._base + round((at - self._origin) * self.rate)
        if self._next is not None and abs(ts - self._next) <= ROUNDING:
            ts = self._next
        ts = max(ts, self._next or 0)  # never back: a little overlap goes on from the last piece
        self._next = ts + samples
        return ts


class HubAudioTrack(MediaStreamTrack):
    """Audio from one hub subscription as `av.Packet`s (G.711 passthrough) or `av.AudioFrame`s."""

    kind = "audio"

    def __init__(self, subscription: Subscription, choice: AudioChoice, lipsync: LipSync | None = None,
                 on_sent: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self._sub = subscription
        self.choice = choice
        self._lipsync = lipsync
        self._on_sent = on_sent
        self._audio: StreamInfo | None = None
        self._shaper: PcmShaper | None = None
        self._ready: deque[tuple[Piece, float]] = deque()  # pieces and when they are due
        self._clock = RtpClock(choice.clock_rate)
        self._handed: float | None = None  # when the last piece went to aiortc
        #: Pieces sent, and pieces dropped as stale.
        self.sent = 0
        self.stale = 0

    async def recv(self) -> av.Packet | av.AudioFrame:  # type: ignore[override]
        """The next 20 ms of sound, at the time it is due."""
        if self._lipsync is not None and self._handed is not None:
            self._lipsync.sent("audio", time.monotonic() - self._handed)
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            if self._ready:
                piece, due = self._ready.popleft()
                now = time.monotonic()
                if now - due > STALE_S:
                    self.stale += 1
                    continue
                if due > now:
                    await asyncio.sleep(due - now)
                out = self._output(piece)
                self._handed = time.monotonic()
                return out
            try:
                item = await self._sub.get()
            except StopAsyncIteration:
                self.stop()
                raise MediaStreamError from None
            if isinstance(item, StreamChange):
                self._on_change(item)
            elif self._audio is not None and item.stream == self._audio.index:
                self._take(item)

    def _on_change(self, change: StreamChange) -> None:
        self._ready.clear()
        audio = next((s for s in change.streams if s.kind == "audio"), None)
        self._audio, self._shaper = audio, None
        if self._lipsync is not None:
            self._lipsync.reset("audio")
        if audio is None or self._passthrough(audio):
            return
        try:
            self._shaper = PcmShaper(audio, self.choice.clock_rate)
        except (ValueError, av.error.FFmpegError) as exc:  # a codec this FFmpeg cannot decode
            log.warning("camera sound is %s, which cannot be decoded: none is sent (%s)", audio.codec, exc)
            self._audio = None

    def _passthrough(self, audio: StreamInfo) -> bool:
        return self.choice.passthrough and PASSTHROUGH.get(audio.codec) == self.choice.mime

    def _take(self, packet: MediaPacket) -> None:
        assert self._audio is not None
        at = seconds(packet.pts if packet.pts is not None else packet.dts, self._audio.time_base)
        if at is None:
            return  # the first RTSP packet may come unstamped: 20 ms of sound is not worth a guess
        if self._shaper is None:
            pieces = g711_pieces(packet.data, at)
        else:
            pieces = self._shaper.push(packet.data, at)  # decoded even when stale: the decoder needs it
        now = time.monotonic()
        if now - packet.received > OLD_S:
            self.stale += len(pieces)
            return
        for piece in pieces:
            due = self._lipsync.due("audio", piece.at, packet.received, now) if self._lipsync else now
            self._ready.append((piece, due))

    def _output(self, piece: Piece) -> av.Packet | av.AudioFrame:
        self.sent += 1
        if self._on_sent is not None:
            self._on_sent(len(piece.data))
        if self._shaper is None:
            packet = av.Packet(piece.data)
            packet.pts = self._clock.stamp(piece.at, piece.samples)
            packet.time_base = Fraction(1, G711_RATE)
            return packet
        return audio_frame(piece, self.choice.clock_rate, self._clock.stamp(piece.at, piece.samples))

    def stop(self) -> None:
        """End the track and leave the hub."""
        super().stop()
        self._sub.close()
