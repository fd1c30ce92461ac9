"""One picture out of a run of compressed video packets that starts at a keyframe: every frame is
decoded forward (no keyframe-only shortcut: the asked frame is usually between keyframes) and the
newest one at or before a moment is kept. Blocking: run it in a worker thread."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import av
import av.error
import numpy as np

from streams.packet import MediaPacket, StreamInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StillFrame:
    """A decoded picture (BGR, OpenCV's layout) and the wall-clock time (UTC seconds) it shows."""

    image: np.ndarray
    wallclock: float


def still_frame(info: StreamInfo, packets: Sequence[MediaPacket], until: float | None = None) -> StillFrame | None:
    """The newest frame of `info`'s stream whose time is at or before `until` (None: the newest of
    all), decoding `packets` (the first video one a keyframe) in order; None when none decodes."""
    video = [p for p in packets if p.stream == info.index]
    if not video:
        return None
    ctx: Any = av.CodecContext.create(info.codec, "r")
    if info.extradata:
        ctx.extradata = info.extradata
    ctx.thread_type = "SLICE"
    ctx.thread_count = 1
    # A frame leaves the decoder with its packet's pts (B-frames come out reordered): the packet's
    # wall-clock time is found again by pts.
    clock = {p.pts: p.wallclock for p in video if p.pts is not None}
    best: tuple[float, Any] | None = None

    def keep(frames: list[Any]) -> None:
        nonlocal best
        for frame in frames:
            wall = clock.get(frame.pts)
            if wall is None or (until is not None and wall > until):
                continue
            if best is None or wall >= best[0]:
                best = (wall, frame)

    try:
        for p in video:
            pkt = av.Packet(p.data)
            pkt.pts, pkt.dts = p.pts, p.dts
            keep(ctx.decode(pkt))
        keep(ctx.decode(None))
    except av.error.FFmpegError as exc:
        log.debug("stream %d: undecodable run of %d packets: %s", info.index, len(video), exc)
    if best is None:
        return None
    wall, frame = best
    return StillFrame(frame.to_ndarray(format="bgr24"), wall)
