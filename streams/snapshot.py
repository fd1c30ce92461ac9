"""A JPEG of a camera's latest keyframe, decoded off the event loop."""

from __future__ import annotations

import asyncio
import logging

import av.error
import cv2
import numpy as np

from streams.hub import StreamHub
from streams.keyframe import decode_keyframe
from streams.packet import MediaPacket, StreamInfo

log = logging.getLogger(__name__)


def encode_jpeg(image: np.ndarray, quality: int = 85) -> bytes | None:
    """JPEG bytes of a BGR image (blocking)."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, max(1, min(int(quality), 100))])
    return buf.tobytes() if ok else None


def _keyframe_jpeg(info: StreamInfo, packet: MediaPacket, quality: int) -> bytes | None:
    try:
        image = decode_keyframe(info, packet)
    except (ValueError, av.error.FFmpegError) as exc:  # a codec this FFmpeg cannot decode
        log.debug("no snapshot decoder for %s: %s", info.codec, exc)
        return None
    return None if image is None else encode_jpeg(image, quality)


async def keyframe_jpeg(hub: StreamHub, quality: int = 85) -> bytes | None:
    """The hub's latest keyframe as JPEG, or None while the camera has none."""
    packet = hub.latest_keyframe()
    if packet is None:
        return None
    info = next((s for s in hub.streams if s.index == packet.stream), None)
    if info is None:
        return None
    # Decoding a 1080p keyframe takes ~10 ms of CPU: never on the loop.
    return await asyncio.to_thread(_keyframe_jpeg, info, packet, quality)
