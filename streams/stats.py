"""Per-camera packet statistics: O(1) updates, rates over a sliding window of whole seconds."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from streams.packet import MediaPacket, StreamInfo

# Rates over the last 5 s: long enough to smooth a 2 s GOP's keyframe burst in the
# bitrate, short enough that a dying camera shows within one metrics scrape.
WINDOW_S = 5
_NO_PTS_MIN = 2**63
_NO_PTS_MAX = -(2**63)


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    """Stream statistics at one instant, for the API, metrics and health checks."""

    fps: float
    bitrate_bps: float
    keyframe_interval_s: float | None
    width: int
    height: int
    codec: str | None
    last_packet_age_s: float | None
    packets_total: int
    bytes_total: int
    reconnects: int
    dropped_packets: int
    #: The video reorders frames (B-frames): a frame came that is shown before the one decoded
    #: just ahead of it. False until such a frame is seen (the second or third of a stream).
    reorders: bool = False


class StreamStats:
    """Counts one camera's packets; `update` is called once per packet on the loop thread."""

    def __init__(self, extra_dropped: Callable[[], int] | None = None) -> None:
        # One bucket per second, WINDOW_S + 1 of them so the window never reads the bucket
        # being reused; plain int lists, updated in place (no allocation per packet).
        n = WINDOW_S + 1
        self._bucket_second = [-1] * n
        self._bucket_frames = [0] * n
        self._bucket_bytes = [0] * n
        # Video pts range per bucket: a server that bursts its backlog on connect (GStreamer
        # does, so do cameras after a network hiccup) delivers seconds of video in an
        # instant; dividing by the media time those frames cover keeps fps honest.
        self._bucket_pts_min = [_NO_PTS_MIN] * n
        self._bucket_pts_max = [_NO_PTS_MAX] * n
        self._extra_dropped = extra_dropped
        self._video_index: int | None = None
        self._time_base: float = 0.0
        self.width = 0
        self.height = 0
        self.codec: str | None = None
        self.packets_total = 0
        self.bytes_total = 0
        self.reconnects = 0
        self.dropped_packets = 0
        self._first_received: float | None = None
        self._last_received: float | None = None
        self._last_key_pts: int | None = None
        self._last_key_received: float | None = None
        self.keyframe_interval_s: float | None = None
        #: The video reorders frames (B-frames; WebRTC cannot play that untouched). Set at the first
        #: reordered frame; kept over a reconnect that brings the same video back, since the route
        #: that reads it must not pass the first frames of a connection through as if it did not.
        self.reorders = False
        self._reorder_key: tuple[str, int, int, str | None] | None = None
        self._prev_pts: int | None = None
        self._prev_dts: int | None = None

    def set_streams(self, streams: tuple[StreamInfo, ...]) -> None:
        """Take codec and size from the first video stream of a new connection."""
        video = next((s for s in streams if s.kind == "video"), None)
        self._video_index = video.index if video else None
        self._time_base = float(video.time_base) if video else 0.0
        self.codec = video.codec if video else (streams[0].codec if streams else None)
        self.width = video.width if video else 0
        self.height = video.height if video else 0
        key = (video.codec, video.width, video.height, video.profile) if video else None
        if key != self._reorder_key:
            self.reorders = False  # another stream (a camera set up anew): to be seen again
        self._reorder_key = key
        self._prev_pts = self._prev_dts = None
        self._last_key_pts = None
        self._last_key_received = None
        # The window restarts too: a rate across an outage would understate the new one,
        # and the new connection's timestamps need not continue the old ones.
        self._first_received = None
        n = len(self._bucket_second)
        self._bucket_second[:] = [-1] * n
        self._bucket_pts_min[:] = [_NO_PTS_MIN] * n
        self._bucket_pts_max[:] = [_NO_PTS_MAX] * n

    def update(self, packet: MediaPacket) -> None:
        """Account one packet."""
        received = packet.received
        size = len(packet.data)
        self.packets_total += 1
        self.bytes_total += size
        self._last_received = received
        if self._first_received is None:
            self._first_received = received
        second = math.floor(received)
        slot = second % len(self._bucket_second)
        if self._bucket_second[slot] != second:
            self._bucket_second[slot] = second
            self._bucket_frames[slot] = 0
            self._bucket_bytes[slot] = 0
            self._bucket_pts_min[slot] = _NO_PTS_MIN
            self._bucket_pts_max[slot] = _NO_PTS_MAX
        self._bucket_bytes[slot] += size
        if packet.stream != self._video_index:
            return
        self._bucket_frames[slot] += 1
        pts, dts = packet.pts, packet.dts
        if pts is not None and dts is not None:
            # Decoded after the frame before it yet shown before it: a B-frame. A timestamp reset
            # moves both times back and is not one.
            if (not self.reorders and self._prev_dts is not None and self._prev_pts is not None
                    and dts > self._prev_dts and pts < self._prev_pts):
                self.reorders = True
            self._prev_pts, self._prev_dts = pts, dts
        if pts is not None:
            if pts < self._bucket_pts_min[slot]:
                self._bucket_pts_min[slot] = pts
            if pts > self._bucket_pts_max[slot]:
                self._bucket_pts_max[slot] = pts
        if packet.is_keyframe:
            self._keyframe(packet)

    def _keyframe(self, packet: MediaPacket) -> None:
        # The camera's timestamps, when it sends them: arrival times jitter with the network
        # and bunch up in a connect burst. The first RTSP packet often has no pts; then the
        # interval waits for the next pair instead of guessing.
        if packet.pts is not None and self._last_key_pts is not None:
            if packet.pts > self._last_key_pts:
                self.keyframe_interval_s = (packet.pts - self._last_key_pts) * self._time_base
        elif packet.pts is None and self._last_key_received is not None and self._last_key_pts is None:
            self.keyframe_interval_s = packet.received - self._last_key_received
        self._last_key_pts = packet.pts
        self._last_key_received = packet.received

    def note_dropped(self, count: int = 1) -> None:
        """Packets lost before reaching the hub (the worker-to-loop handoff overflowed)."""
        self.dropped_packets += count

    def note_reconnect(self) -> None:
        """A connection opened after an earlier one."""
        self.reconnects += 1

    def snapshot(self, now_monotonic: float) -> StatsSnapshot:
        """Statistics as of `now_monotonic` (time.monotonic() domain, like MediaPacket.received)."""
        fps = bitrate = 0.0
        now_second = math.floor(now_monotonic)
        oldest = now_second - WINDOW_S + 1
        if self._first_received is not None:
            start = max(float(oldest), self._first_received)
            span = now_monotonic - start
            frames = total = 0
            pts_min, pts_max = _NO_PTS_MIN, _NO_PTS_MAX
            for slot, second in enumerate(self._bucket_second):
                if oldest <= second <= now_second:
                    frames += self._bucket_frames[slot]
                    total += self._bucket_bytes[slot]
                    pts_min = min(pts_min, self._bucket_pts_min[slot])
                    pts_max = max(pts_max, self._bucket_pts_max[slot])
            if frames >= 2 and pts_max > pts_min:
                # N frames span N-1 frame periods; stretch to cover all N.
                media_span = (pts_max - pts_min) * self._time_base * frames / (frames - 1)
                # Capped: a timestamp jump inside the window must not zero the rate.
                span = max(span, min(media_span, WINDOW_S + 2.0))
            if span > 0.2:  # a rate over a few milliseconds is noise
                fps = frames / span
                bitrate = total * 8 / span
        age = None if self._last_received is None else max(0.0, now_monotonic - self._last_received)
        dropped = self.dropped_packets + (self._extra_dropped() if self._extra_dropped else 0)
        return StatsSnapshot(
            fps=fps,
            bitrate_bps=bitrate,
            keyframe_interval_s=self.keyframe_interval_s,
            width=self.width,
            height=self.height,
            codec=self.codec,
            last_packet_age_s=age,
            packets_total=self.packets_total,
            bytes_total=self.bytes_total,
            reconnects=self.reconnects,
            dropped_packets=dropped,
            reorders=self.reorders,
        )
