"""Minutes of sealed recording in seconds, through the gateway's own recorder.

A camera whose source cannot be reached (and whose next attempt is a minute away) leaves its hub
idle; the test then plays pre-encoded H.264 into that hub as fast as the recorder takes it, each
packet stamped with the wall clock it would have arrived at in real time. The recorder anchors a
connection to UTC from those stamps (recorder/timeline.py), so the segments it writes, seals,
hash-chains, indexes and logs say "from `start` on, `seconds` long", however little time it took.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

import av
import numpy as np

from core.config import CameraConfig
from streams.bitstream import parameter_sets
from streams.hub import StreamHub
from streams.packet import MediaPacket, StreamInfo

TIME_BASE = Fraction(1, 90000)  # as RTSP cameras stamp H.264
# A source nothing listens on: the first connect fails at once, the next one is a minute away.
IDLE_SOURCE = "rtsp://127.0.0.1:9/idle"


def idle_camera(camera_id: str, name: str = "") -> CameraConfig:
    """A camera whose hub stays idle for `feed()` (one failed connect, then 60 s of backoff)."""
    return CameraConfig(id=camera_id, name=name or camera_id, source=IDLE_SOURCE,
                        backoff={"initial_s": 60, "max_s": 60, "jitter": 0}, open_timeout_s=2.0)


@dataclass(frozen=True)
class Encoded:
    """A pre-encoded H.264 stream: its parameters and (data, pts, dts, keyframe) per packet."""

    info: StreamInfo
    packets: list[tuple[bytes, int, int, bool]]
    fps: int
    gop: int  # frames from one keyframe to the next

    @property
    def seconds(self) -> float:
        return len(self.packets) / self.fps


def encode(seconds: float, fps: int = 10, size: tuple[int, int] = (320, 180), gop_s: float = 2.0,
           noise: bool = False, codec: str = "h264") -> Encoded:
    """`seconds` of a moving gradient (or of noise: about 3 Mbit/s at 320x180 and 10 fps, a camera's
    bitrate rather than a test pattern's) as Annex B H.264 (or H.265: `codec="hevc"`) with the
    parameter sets before every keyframe (as cameras send it), a keyframe every `gop_s`. One GOP is encoded and repeated with later
    timestamps: every GOP starts with an IDR picture, so the repeats decode like the first, and
    an hour costs no more to make than two seconds."""
    width, height = size
    gop = max(1, round(gop_s * fps))
    hevc = codec == "hevc"
    enc = av.CodecContext.create("libx265" if hevc else "libx264", "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base, enc.framerate = TIME_BASE, Fraction(fps, 1)
    params = f"keyint={gop}:min-keyint={gop}:scenecut=0:repeat-headers=1"
    enc.options = {"preset": "ultrafast", "tune": "zerolatency",
                   **({"x265-params": params + ":bframes=0:log-level=error"} if hevc else {"x264-params": params})}
    enc.open()
    ramp = (np.arange(width, dtype=np.uint16)[None, :] + np.arange(height, dtype=np.uint16)[:, None])
    rng = np.random.default_rng(14)
    one: list[av.Packet] = []
    step = TIME_BASE.denominator // fps
    for index in range(gop):
        picture = (rng.integers(0, 256, (height, width, 3), dtype=np.uint8) if noise
                   else np.repeat(((ramp + index * 3) % 256).astype(np.uint8)[:, :, None], 3, axis=2))
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = index * step, TIME_BASE
        one += enc.encode(frame)
    one += enc.encode(None)
    assert len(one) == gop and one[0].is_keyframe and not any(p.is_keyframe for p in one[1:])
    info = StreamInfo(index=0, kind="video", codec=codec, time_base=TIME_BASE,
                      extradata=parameter_sets(codec, bytes(one[0])), width=width, height=height,
                      profile=enc.profile or None)
    packets = []
    for repeat in range(max(1, round(seconds * fps / gop))):
        shift = repeat * gop * step
        packets += [(bytes(p), int(p.pts or 0) + shift, int(p.dts if p.dts is not None else p.pts or 0) + shift,
                     bool(p.is_keyframe)) for p in one]
    return Encoded(info, packets, fps, gop)


async def feed(hub: StreamHub, stream: Encoded, start: datetime, batch: int = 50) -> datetime:
    """Plays `stream` into `hub` as a connection that began at `start` (UTC) and ends after its
    last packet (which seals the open segment); returns the UTC of the end of the stream.

    Batches leave the recorder time to take them (its queue holds 4096 packets)."""
    hub.set_streams((stream.info,))
    base = start.timestamp()
    for i, (data, pts, dts, key) in enumerate(stream.packets):
        at = base + dts * TIME_BASE.numerator / TIME_BASE.denominator
        hub.publish(MediaPacket(stream=0, data=data, pts=pts, dts=dts, is_keyframe=key,
                                received=time.monotonic(), wallclock=at))
        if i % batch == batch - 1:
            await asyncio.sleep(0.01)
    hub.set_streams((), "the test's recording ended")
    return start + timedelta(seconds=stream.seconds)
