"""A video track that hands the hub's H.264 (or H.265) packets to aiortc's packetizer, never decoding."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from fractions import Fraction

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from streams.bitstream import extradata_to_annexb, with_parameter_sets
from streams.hub import Subscription
from streams.packet import MediaPacket, StreamChange, StreamInfo
from webrtc.lipsync import LipSync

log = logging.getLogger(__name__)

# RTP's video clock (RFC 6184); aiortc converts to it anyway, so we hand it over in it.
VIDEO_CLOCK = Fraction(1, 90_000)
# After a reconnect the camera's timestamps restart; continue one 30 fps frame later so
# the viewer's RTP timestamps keep increasing.
RESUME_GAP = 3000


def to_video_clock(ts: int, numerator: int, denominator: int) -> int:
    """`int(ts * Fraction(numerator, denominator))` in integers: truncated toward zero, as int() does."""
    product = ts * numerator
    return product // denominator if product >= 0 else -(-product // denominator)


class HubVideoTrack(MediaStreamTrack):
    """Video from one hub subscription as `av.Packet`s in the 90 kHz clock.

    The hub starts the subscription (and restarts it after a drop) at a keyframe; the
    track makes sure every keyframe carries its parameter sets (SPS/PPS, H.265 also VPS),
    so a new viewer can decode at once. `codec` is what the session negotiated ("h264" or
    "hevc"): a camera that sends anything else is not sent. With `lipsync` (the session sends
    sound too), each frame waits until it is due.
    """

    kind = "video"

    def __init__(
        self, subscription: Subscription, on_sent: Callable[[int], None] | None = None, codec: str = "h264",
        lipsync: LipSync | None = None,
    ) -> None:
        super().__init__()
        self.codec = codec
        self._sub = subscription
        self._on_sent = on_sent
        self._lipsync = lipsync
        self._handed: float | None = None  # when the last packet went to aiortc (with lipsync)
        self._video: StreamInfo | None = None
        # The camera's time base over the 90 kHz clock as an integer ratio, set per connection:
        # Fraction arithmetic on every packet was half of this track's per-viewer cost.
        self._scale = (1, 1)
        self._parameter_sets: bytes | None = None
        self._origin: int | None = None  # camera pts that maps to self._base
        self._base = 0
        self._last = -RESUME_GAP

    async def recv(self) -> av.Packet:  # type: ignore[override]
        """The next access unit, Annex B, pts in 1/90000 s."""
        if self._lipsync is not None and self._handed is not None:
            self._lipsync.sent("video", time.monotonic() - self._handed)
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            try:
                item = await self._sub.get()
            except StopAsyncIteration:
                self.stop()
                raise MediaStreamError from None
            if isinstance(item, StreamChange):
                self._on_change(item)
                continue
            if self._video is None or item.stream != self._video.index:
                continue  # audio, or video of a codec WebRTC passthrough cannot carry
            if self._lipsync is None:
                return self._packet(item)
            await self._hold(item)
            packet = self._packet(item)
            self._handed = time.monotonic()
            return packet

    async def _hold(self, item: MediaPacket) -> None:
        """Wait until the frame is due, so it leaves in step with the session's sound."""
        assert self._video is not None and self._lipsync is not None
        raw = item.pts if item.pts is not None else item.dts
        tb = self._video.time_base
        at = None if raw is None else raw * tb.numerator / tb.denominator
        now = time.monotonic()
        delay = self._lipsync.due("video", at, item.received, now) - now
        if delay > 0:
            await asyncio.sleep(delay)

    def _on_change(self, change: StreamChange) -> None:
        video = next((s for s in change.streams if s.kind == "video"), None)
        if video is not None and video.codec != self.codec:
            log.warning("camera stream is %s, not %s: nothing to send", video.codec, self.codec)
            video = None
        self._video = video
        if video is not None:
            scale = video.time_base / VIDEO_CLOCK
            self._scale = (scale.numerator, scale.denominator)
        self._parameter_sets = extradata_to_annexb(video.codec, video.extradata) if video else None
        self._origin = None  # timestamps restart with the new connection
        self._base = self._last + RESUME_GAP
        if self._lipsync is not None:
            self._lipsync.reset("video")

    def _packet(self, item: MediaPacket) -> av.Packet:
        assert self._video is not None
        data = item.data
        if item.is_keyframe:
            data = with_parameter_sets(data, self._parameter_sets, self.codec)
        raw = item.pts if item.pts is not None else item.dts
        if raw is None:
            # The first RTSP packet may come without timestamps: send it right after the last.
            ts = self._last + 1
        else:
            scaled = to_video_clock(raw, *self._scale)
            if self._origin is None:
                self._origin = scaled
            ts = self._base + scaled - self._origin
        self._last = max(self._last, ts)
        packet = av.Packet(data)
        packet.pts = ts
        packet.dts = ts
        packet.time_base = VIDEO_CLOCK
        if self._on_sent is not None:
            self._on_sent(len(data))
        return packet

    def stop(self) -> None:
        """End the track and leave the hub."""
        super().stop()
        self._sub.close()
