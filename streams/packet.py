"""What the hub carries: codec parameters per stream and packets detached from PyAV's demuxer."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """Codec parameters a subscriber needs to mux or decode a stream without the source."""

    index: int
    kind: Literal["video", "audio"]
    codec: str  # FFmpeg codec name: "h264", "hevc", "aac", "pcm_mulaw", ...
    time_base: Fraction
    extradata: bytes | None = None  # avcC/hvcC when the source has it out of band
    width: int = 0
    height: int = 0
    profile: str | None = None
    sample_rate: int = 0
    channels: int = 0


@dataclass(frozen=True, slots=True)
class MediaPacket:
    """One compressed packet, immutable and safe to share between subscribers and threads."""

    stream: int  # StreamInfo.index
    data: bytes
    pts: int | None
    dts: int | None
    is_keyframe: bool
    #: time.monotonic() when the packet left the demuxer.
    received: float
    #: Wall clock (UTC, seconds since the epoch) when the packet left the demuxer.
    wallclock: float


@dataclass(frozen=True, slots=True)
class StreamChange:
    """In-band marker: the source (re)connected with `streams`, or stopped when empty."""

    streams: tuple[StreamInfo, ...]
    reason: str = ""
