"""Decode single keyframes to pictures, for image health checks and snapshots.

Blocking (FFmpeg decodes on the calling thread): run it in a worker thread, never on the
event loop. One decoder belongs to one thread at a time.
"""

from __future__ import annotations

import logging
from typing import Any

import av
import av.error
import numpy as np

from streams.packet import MediaPacket, StreamInfo

log = logging.getLogger(__name__)


class KeyframeDecoder:
    """Decodes one keyframe at a time of the video stream described by a StreamInfo."""

    def __init__(self, info: StreamInfo) -> None:
        if info.kind != "video":
            raise ValueError(f"stream {info.index} is {info.kind}, not video")
        self.info = info
        # Raises av.error / ValueError for a codec this FFmpeg build cannot decode.
        self._ctx: Any = av.CodecContext.create(info.codec, "r")
        if info.extradata:
            # avcC/hvcC from MP4-like sources, or Annex B SPS/PPS from the SDP's
            # sprop-parameter-sets; FFmpeg's parsers take either form.
            self._ctx.extradata = info.extradata
        # Keyframes only: with "NONKEY" the decoder drops anything that needs a reference
        # frame instead of printing errors about it (measured: about 1/10 of the CPU of decoding every frame).
        self._ctx.skip_frame = "NONKEY"
        # One thread, slice mode: frame threading holds frames back until its pipeline is
        # full, and a camera's health check needs no more than one core.
        self._ctx.thread_type = "SLICE"
        self._ctx.thread_count = 1

    def decode(self, packet: MediaPacket) -> av.VideoFrame | None:
        """The picture in a keyframe packet, or None when it is no keyframe or undecodable."""
        if not packet.is_keyframe:
            return None
        pkt = av.Packet(packet.data)
        pkt.pts = packet.pts
        pkt.dts = packet.dts
        try:
            frames = self._ctx.decode(pkt)
            # A stream with B-frames makes the decoder hold the picture back for reordering;
            # drain it now and reset, so every call stands alone. Parameter sets survive the
            # flush, so out-of-band extradata stays in force.
            frames += self._ctx.decode(None)
        except av.error.FFmpegError as exc:
            log.debug("stream %d: keyframe not decodable: %s", self.info.index, exc)
            return None
        finally:
            self._ctx.flush_buffers()
        if not frames:
            log.debug("stream %d: keyframe gave no picture (%d bytes)", self.info.index, len(packet.data))
            return None
        frame = frames[-1]
        assert isinstance(frame, av.VideoFrame)
        return frame

    def decode_gray(self, packet: MediaPacket, width: int | None = None) -> np.ndarray | None:
        """Full-range luma (uint8, 0 = black) of a keyframe, shrunk to `width` pixels if given."""
        frame = self.decode(packet)
        if frame is None:
            return None
        return frame_to_gray(frame, width)

    def decode_bgr(self, packet: MediaPacket) -> np.ndarray | None:
        """A keyframe as a BGR uint8 array (OpenCV's layout), full size."""
        frame = self.decode(packet)
        if frame is None:
            return None
        return frame.to_ndarray(format="bgr24")

    def close(self) -> None:
        """Release the codec context (also done by garbage collection)."""
        self._ctx = None


def frame_to_gray(frame: av.VideoFrame, width: int | None = None) -> np.ndarray:
    """Full-range luma of a frame; swscale scales and expands limited range (16-235) at once."""
    if width is not None and frame.width > width:
        height = max(1, round(width * frame.height / frame.width))
        # AREA matches cv2.INTER_AREA, which the image checks are calibrated with.
        frame = frame.reformat(width=width, height=height, format="gray", interpolation="AREA")
    else:
        frame = frame.reformat(format="gray")
    return frame.to_ndarray(format="gray")


def decode_keyframe(info: StreamInfo, packet: MediaPacket) -> np.ndarray | None:
    """One keyframe as a BGR image with a throwaway decoder; None if it does not decode."""
    return KeyframeDecoder(info).decode_bgr(packet)
