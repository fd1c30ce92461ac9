"""One camera's video decoded and encoded again as H.264 for browsers (PyAV; blocking: one thread).

The wall's transcoder (`webrtc/transcoder.py`) runs it in a thread of its own; `bench/transcode.py`
measures it against `ffmpeg -c:v libx264`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction

import av
from av.video.frame import PictureType
from av.video.reformatter import Interpolation, VideoReformatter

from streams.packet import MediaPacket, StreamInfo

log = logging.getLogger(__name__)

# x264 as for a live viewer: no look-ahead and no B-frames (tune=zerolatency), so every frame in
# gives its packet out at once; Constrained Baseline, the only H.264 profile aiortc's answer
# announces (42e01f). "veryfast" cost 20 % more CPU for 720p H.265 in, 640 wide out (measured);
# decoding the camera's H.265 is most of the cost either way.
PRESET = "ultrafast"
PROFILE = "baseline"
# A keyframe at least this often (in seconds of the camera's clock): a viewer that joins, or whose
# queue overflowed, waits at most this long for a picture; cameras default to about 2 s too.
KEYFRAME_INTERVAL_S = 2.0
# Bits per pixel per frame at 25 fps: the encoder's VBV ceiling (crf 23 under it). 640x360 gets
# 0.7 Mbit/s, 1280x720 2.8 Mbit/s: a sub-stream's bitrate, not the main stream's.
BITS_PER_PIXEL = 0.12
CRF = "23"
# One thread each for the decoder, the scaler and the encoder: at a camera's pace, FFmpeg's automatic
# threads (one per core, woken for every frame) cost 10-15 % more CPU in total (measured on 2 cores,
# 1080p and 720p H.265 in), and one thread does a 1080p frame in about 6 ms of its 40. Cameras run in
# parallel instead, one transcoder thread each. (Frame threads would also add a frame of latency.)
DECODER_THREADS = 1
SCALER_THREADS = 1
ENCODER_THREADS = 1
# Frames with no timestamp at all (rare: the first RTSP packet) are placed one 25 fps frame on.
DEFAULT_STEP_S = Fraction(1, 25)
# Packets in a row that decode to no picture (errors, or garbage the decoder drops without one)
# before the transcoder gives up on the camera: 4 s at 25 fps.
MAX_PACKETS_WITHOUT_PICTURE = 100


class ReencodeError(Exception):
    """The video cannot be transcoded (no decoder, the encoder failed, or nothing decodes)."""


def output_size(width: int, height: int, target_width: int) -> tuple[int, int]:
    """The encoded picture: `target_width` wide (never wider than the source), the source's
    aspect, both even (4:2:0 chroma needs even sides)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"picture size {width}x{height}")
    out_w = max(2, min(target_width, width) // 2 * 2)
    out_h = max(2, round(height * out_w / width / 2) * 2)
    return out_w, out_h


def decodable(codec: str) -> bool:
    """Whether PyAV's FFmpeg has a decoder for `codec` (an FFmpeg codec name)."""
    try:
        av.codec.Codec(codec, "r")
    except (av.codec.codec.UnknownCodecError, ValueError):
        return False
    return True


@dataclass
class ReencodeCounts:
    """What one reencoder did: packets in, frames decoded, frames encoded, frames skipped (stale)."""

    packets: int = 0
    decoded: int = 0
    encoded: int = 0
    skipped: int = 0
    decode_errors: int = 0


class Reencoder:
    """Decodes one video stream and encodes it as H.264 Constrained Baseline at `target_width`.

    Not thread-safe: one thread calls feed() and close(). The output keeps the source's time base
    and timestamps, so the viewer's clock is the camera's; SPS/PPS precede every IDR (Annex B)."""

    def __init__(self, source: StreamInfo, target_width: int) -> None:
        if not decodable(source.codec):
            raise ReencodeError(f"no decoder for {source.codec}")
        self.source = source
        self.target_width = target_width
        self.counts = ReencodeCounts()
        #: The encoded stream once the first frame set its size; None before.
        self.output: StreamInfo | None = None
        self._decoder = av.CodecContext.create(source.codec, "r")
        self._decoder.thread_count = DECODER_THREADS
        if source.extradata:
            self._decoder.extradata = source.extradata
        self._encoder: av.VideoCodecContext | None = None
        self._scaler = VideoReformatter()
        self._size = (0, 0)  # the encoded picture
        self._source_size = (0, 0)  # the decoded picture the encoder was opened for
        self._keyframe_ticks = max(1, int(KEYFRAME_INTERVAL_S / source.time_base))
        self._step = max(1, int(DEFAULT_STEP_S / source.time_base))
        self._last_pts: int | None = None
        self._last_key: int | None = None
        self._barren = 0  # packets in a row without a picture
        self._want_key = True

    def request_keyframe(self) -> None:
        """Make the next encoded frame an IDR (a new viewer, a viewer that lost packets)."""
        self._want_key = True

    def feed(self, packet: MediaPacket, encode: bool = True) -> list[MediaPacket]:
        """Decode `packet`; encode what it decodes to (unless `encode` is False: a stale packet of a
        backlog, decoded only to keep the reference pictures). Returns the H.264 packets."""
        self.counts.packets += 1
        raw = av.Packet(packet.data)
        raw.pts, raw.dts, raw.time_base = packet.pts, packet.dts, self.source.time_base
        try:
            frames = self._decoder.decode(raw)
        except av.FFmpegError as exc:  # a damaged packet: the next keyframe repairs the picture
            self.counts.decode_errors += 1
            log.debug("%s packet did not decode: %s", self.source.codec, exc)
            frames = []
        if not frames:
            self._barren += 1
            if self._barren >= MAX_PACKETS_WITHOUT_PICTURE:
                raise ReencodeError(f"{self._barren} {self.source.codec} packets in a row decoded to no picture "
                                    f"({self.counts.decode_errors} decode errors so far)")
            return []
        self._barren = 0
        out: list[MediaPacket] = []
        for frame in frames:
            self.counts.decoded += 1
            if not encode:
                self.counts.skipped += 1
                self._want_key = True  # the viewer must start afresh after a skip
                continue
            out += self._encode(frame, packet)
        return out

    def close(self) -> None:
        """Release both codecs (nothing is flushed: a live stream has no end to deliver)."""
        self._encoder = None
        self._decoder = None  # type: ignore[assignment]

    def _encode(self, frame: av.VideoFrame, source: MediaPacket) -> list[MediaPacket]:
        encoder = self._encoder_for(frame.width, frame.height)
        pts = frame.pts
        if pts is None:
            pts = self._last_pts + self._step if self._last_pts is not None else 0
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1  # x264 refuses a timestamp that does not increase
        self._last_pts = pts
        picture = self._scaler.reformat(frame, width=self._size[0], height=self._size[1], format="yuv420p",
                                        interpolation=Interpolation.BILINEAR, threads=SCALER_THREADS)
        picture.pts, picture.time_base = pts, self.source.time_base
        # The decoded frame's picture type comes along, and libx264 would make every I of the
        # camera's an IDR too: this stream's keyframes are set here, and only here.
        picture.pict_type = PictureType.NONE
        if self._want_key or self._last_key is None or pts - self._last_key >= self._keyframe_ticks:
            picture.pict_type = PictureType.I  # libx264 makes a forced I picture an IDR (closed GOP)
            self._want_key = False
            self._last_key = pts
        try:
            encoded = encoder.encode(picture)
        except av.FFmpegError as exc:
            raise ReencodeError(f"the H.264 encoder failed: {exc}") from exc
        self.counts.encoded += 1
        return [
            MediaPacket(stream=0, data=bytes(p), pts=p.pts, dts=p.dts, is_keyframe=p.is_keyframe,
                        received=source.received, wallclock=source.wallclock)
            for p in encoded
        ]

    def _encoder_for(self, width: int, height: int) -> av.VideoCodecContext:
        if self._encoder is not None and (width, height) == self._source_size:
            return self._encoder
        # First frame, or the camera changed its resolution without reconnecting: a new encoder.
        self._source_size = (width, height)
        out_w, out_h = self._size = output_size(width, height, self.target_width)
        encoder = av.CodecContext.create("libx264", "w")
        encoder.width, encoder.height, encoder.pix_fmt = out_w, out_h, "yuv420p"
        encoder.time_base = self.source.time_base
        encoder.framerate = Fraction(25, 1)  # a hint for rate control; timestamps rule
        encoder.thread_count = ENCODER_THREADS
        maxrate = int(out_w * out_h * 25 * BITS_PER_PIXEL / 1000)
        encoder.options = {
            "preset": PRESET, "tune": "zerolatency", "profile": PROFILE, "crf": CRF,
            # The forced IDRs above set the GOP; x264's own keyframes would come at odd times.
            "x264-params": f"keyint=infinite:scenecut=0:vbv-maxrate={maxrate}:vbv-bufsize={maxrate}",
        }
        try:
            encoder.open()
        except av.FFmpegError as exc:
            raise ReencodeError(f"the H.264 encoder did not open at {out_w}x{out_h}: {exc}") from exc
        self._encoder = encoder
        self._want_key = True
        self.output = StreamInfo(index=0, kind="video", codec="h264", time_base=self.source.time_base,
                                 width=out_w, height=out_h, profile="Constrained Baseline")
        log.info("transcoding %s %dx%d to H.264 %dx%d", self.source.codec, width, height, out_w, out_h)
        return encoder
