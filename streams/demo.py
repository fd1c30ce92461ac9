"""A synthetic camera for demo:// URLs: a moving pattern with a UTC clock, H.264 in real time."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from fractions import Fraction
from urllib.parse import parse_qs, urlsplit

import av
import cv2
import numpy as np

from core.config import CameraConfig
from core.errors import SourceError, SourceRefused
from core.schemes import DEMO, scheme_of
from streams import schemes
from streams.bitstream import parameter_sets
from streams.packet import MediaPacket, StreamInfo

log = logging.getLogger(__name__)

# RTSP cameras stamp H.264 at 90 kHz; the demo does the same so consumers see one shape.
TIME_BASE = Fraction(1, 90000)
GOP = 50
PATTERNS = ("pattern", "frozen", "black")
MAX_SIZE = (3840, 2160)


def parse_demo_url(url: str) -> tuple[str, int, int, int]:
    """demo://pattern?size=WxH&fps=N -> (pattern, width, height, fps); raises SourceRefused."""
    parts = urlsplit(url)
    if scheme_of(url) != DEMO:
        raise SourceRefused(f"scheme {parts.scheme!r} is not a demo source")
    pattern = (parts.hostname or "pattern").lower()
    if pattern not in PATTERNS:
        raise SourceRefused(f"demo pattern {pattern!r} unknown; use one of {', '.join(PATTERNS)}")
    query = parse_qs(parts.query)
    try:
        width, height = (int(v) for v in query.get("size", ["640x360"])[0].lower().split("x"))
        fps = int(query.get("fps", ["25"])[0])
    except ValueError as exc:
        raise SourceRefused("demo size must be WxH and fps an integer") from exc
    # Even sizes: yuv420p halves chroma in both directions.
    if not (16 <= width <= MAX_SIZE[0] and 16 <= height <= MAX_SIZE[1]) or width % 2 or height % 2:
        raise SourceRefused(f"demo size {width}x{height} out of range")
    if not 1 <= fps <= 60:
        raise SourceRefused(f"demo fps {fps} out of range 1-60")
    return pattern, width, height, fps


class DemoSource:
    """Encodes a test pattern with libx264 in-process, paced like a live camera."""

    def __init__(self, config: CameraConfig) -> None:
        self.config = config
        self.pattern, self.width, self.height, self.fps = parse_demo_url(config.source)
        self._encoder: av.VideoCodecContext | None = None
        self._pending: list[av.Packet] = []
        self._frame_index = 0
        self._started = 0.0
        self._background = self._make_background()

    def _make_background(self) -> np.ndarray:
        """A colour gradient twice as wide as the picture, scrolled to make motion."""
        w, h = self.width, self.height
        x = np.linspace(0, 4 * np.pi, 2 * w, dtype=np.float32)
        y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
        img = np.empty((h, 2 * w, 3), dtype=np.uint8)
        img[..., 0] = (127 + 120 * np.sin(x)[None, :] * (1 - y)).astype(np.uint8)
        img[..., 1] = (127 + 120 * np.cos(x / 2)[None, :] * y).astype(np.uint8)
        img[..., 2] = (np.arange(2 * w)[None, :] * 255 // (2 * w)).astype(np.uint8)
        # Wrap seamlessly: the second half repeats the first so a scroll never jumps.
        img[:, w:] = img[:, :w]
        return img

    def open(self) -> tuple[StreamInfo, ...]:
        """Start the encoder and return the one H.264 stream (SPS/PPS as Annex B extradata)."""
        try:
            enc = av.CodecContext.create("libx264", "w")
            enc.width, enc.height = self.width, self.height
            enc.pix_fmt = "yuv420p"
            enc.time_base = TIME_BASE
            enc.framerate = Fraction(self.fps, 1)
            enc.gop_size = GOP
            # In-band SPS/PPS before every IDR, as real cameras send them, so any keyframe
            # decodes on its own; no scenecut so keyframes come exactly every GOP frames.
            enc.options = {
                "preset": "ultrafast",
                "tune": "zerolatency",
                "x264-params": f"keyint={GOP}:min-keyint={GOP}:scenecut=0:repeat-headers=1",
            }
            enc.open()
        except av.error.FFmpegError as exc:
            raise SourceError(f"demo encoder failed to start: {exc.strerror}") from exc
        self._encoder = enc
        self._started = time.monotonic()
        self._frame_index = 0
        # Encode the first frame now: its headers become the stream's extradata.
        self._pending = self._encode_next()
        extradata = parameter_sets("h264", bytes(self._pending[0])) if self._pending else None
        info = StreamInfo(
            index=0,
            kind="video",
            codec="h264",
            time_base=TIME_BASE,
            extradata=extradata,
            width=self.width,
            height=self.height,
            profile=enc.profile or None,
        )
        return (info,)

    def read(self) -> MediaPacket | None:
        """The next packet, waiting until its frame is due in real time."""
        while not self._pending:
            due = self._started + self._frame_index / self.fps
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._pending = self._encode_next()
        packet = self._pending.pop(0)
        return MediaPacket(
            stream=0,
            data=bytes(packet),
            pts=packet.pts,
            dts=packet.dts,
            is_keyframe=packet.is_keyframe,
            received=time.monotonic(),
            wallclock=time.time(),
        )

    def close(self) -> None:
        """Drop the encoder."""
        self._encoder = None
        self._pending = []

    def _encode_next(self) -> list[av.Packet]:
        enc = self._encoder
        if enc is None:
            raise SourceError("demo source is not open")
        index = self._frame_index
        self._frame_index += 1
        frame = av.VideoFrame.from_ndarray(self._draw(index), format="bgr24").reformat(format="yuv420p")
        frame.pts = index * int(TIME_BASE.denominator / self.fps)
        frame.time_base = TIME_BASE
        return list(enc.encode(frame))

    def _draw(self, index: int) -> np.ndarray:
        w, h = self.width, self.height
        if self.pattern == "black":
            return np.zeros((h, w, 3), dtype=np.uint8)
        moving = self.pattern == "pattern"
        offset = (index * 4) % w if moving else 0
        img = np.ascontiguousarray(self._background[:, offset : offset + w])
        if moving:
            # A box bouncing across the picture so motion is obvious on a video wall.
            x = int((w - 60) * abs(((index / (4 * self.fps)) % 2) - 1))
            cv2.rectangle(img, (x, h // 2 - 30), (x + 60, h // 2 + 30), (255, 255, 255), -1)
            text = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-4] + " UTC"
        else:
            text = "frozen"
        scale = max(w / 640, 0.5)
        cv2.putText(
            img,
            text,
            (int(16 * scale), int(40 * scale)),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (0, 0, 0),
            int(4 * scale),
            cv2.LINE_AA,
        )
        cv2.putText(
            img,
            text,
            (int(16 * scale), int(40 * scale)),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (255, 255, 255),
            max(int(2 * scale), 1),
            cv2.LINE_AA,
        )
        return img


schemes.register(DemoSource, DEMO)
