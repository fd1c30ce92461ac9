"""A video track that hands the hub's H.264 packets to aiortc's packetizer, never decoding."""

from __future__ import annotations

import logging
from collections.abc import Callable
from fractions import Fraction

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from streams.bitstream import extradata_to_annexb, with_parameter_sets
from streams.hub import Subscription
from streams.packet import MediaPacket, StreamChange, StreamInfo

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
    track makes sure every keyframe carries SPS/PPS, so a new viewer can decode at once.
    """

    kind = "video"

    def __init__(self, subscription: Subscription, on_sent: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self._sub = subscription
        self._on_sent = on_sent
        self._video: StreamInfo | None = None
        # The camera's time base over the 90 kHz clock as an integer ratio, set per connection:
        # Fraction arithmetic on every packet was half of this track's per-viewer cost.
        self._scale = (1, 1)
        self._parameter_sets: bytes | None = None
        self._origin: int | None = None  # camera pts that maps to self._base
        self._base = 0
        self._last = -RESUME_GAP

    async def recv(self) -> av.Packet:  # type: ignore[override]
        """The next H.264 access unit, Annex B, pts in 1/90000 s."""
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
            return self._packet(item)

    def _on_change(self, change: StreamChange) -> None:
        video = next((s for s in change.streams if s.kind == "video"), None)
        if video is not None and video.codec != "h264":
            log.warning("camera stream is %s, not h264: nothing to send", video.codec)
            video = None
        self._video = video
        if video is not None:
            scale = video.time_base / VIDEO_CLOCK
            self._scale = (scale.numerator, scale.denominator)
        self._parameter_sets = extradata_to_annexb(video.codec, video.extradata) if video else None
        self._origin = None  # timestamps restart with the new connection
        self._base = self._last + RESUME_GAP

    def _packet(self, item: MediaPacket) -> av.Packet:
        assert self._video is not None
        data = item.data
        if item.is_keyframe:
            data = with_parameter_sets(data, self._parameter_sets)
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
