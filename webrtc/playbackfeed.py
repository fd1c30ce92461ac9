"""What a playback may send: the recorder's items cut to the authorized window, to the frame."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.utctime import format_utc, from_epoch
from recorder.reader import GapMarker, ReadItem, SegmentOpened
from streams.bitstream import extradata_to_annexb, with_parameter_sets
from streams.packet import StreamInfo


class Recordings(Protocol):
    """The part of recorder.reader.SegmentReader playback needs."""

    def read(self, camera: str, start: datetime, end: datetime) -> AsyncIterator[ReadItem]: ...


@dataclass(frozen=True, slots=True)
class Frame:
    """One H.264 access unit (Annex B, SPS/PPS before keyframes) and its recorded time."""

    data: bytes
    at: float  # UTC seconds since the epoch (the reader's wallclock): when the frame is shown
    keyframe: bool
    #: Seconds the frame is shown after it is decoded (pts - dts): B-frame streams come in decode
    #: order, each frame `lead` ahead of its picture time; 0 without B-frames.
    lead: float = 0.0


@dataclass(frozen=True, slots=True)
class Sound:
    """One recorded audio packet in the window and the stream it belongs to (to decode it)."""

    data: bytes
    at: float  # UTC seconds since the epoch
    stream: StreamInfo


@dataclass(frozen=True, slots=True)
class Gap:
    """No recording in [start, end) of the window; skipped, and told to the viewer."""

    start: float
    end: float
    reason: str


@dataclass(frozen=True, slots=True)
class Finished:
    """Nothing more in the window; `error` when reading stopped early."""

    error: str | None = None


FeedItem = Frame | Sound | Gap | Finished


def iso(at: float) -> str:
    """A reader wallclock as RFC 3339 in UTC."""
    return format_utc(from_epoch(at))


async def frames_in_window(
    items: AsyncIterator[ReadItem], start: datetime, end: datetime, audio: bool = False
) -> AsyncGenerator[FeedItem, None]:
    """H.264 frames with start <= time < end, beginning at the first keyframe at or after `start`
    (and again after every gap), plus the gaps clipped to the window; with `audio`, the audio
    packets with start <= time < end too.

    The reader starts at the keyframe at or before `start` so a decoder has context; passthrough
    cannot use frames before `start` (they lie outside the window) nor begin mid-GOP, so the
    first frame sent is the next keyframe. Non-H.264 video is never sent.
    """
    t_start, t_end = start.timestamp(), end.timestamp()
    try:
        video: StreamInfo | None = None
        sound: StreamInfo | None = None
        parameter_sets: bytes | None = None
        need_keyframe = True
        async for item in items:
            if isinstance(item, SegmentOpened):
                video = next((s for s in item.streams if s.kind == "video"), None)
                if video is not None and video.codec != "h264":
                    yield Finished(f"recorded as {video.codec}; WebRTC passthrough needs H.264")
                    return
                parameter_sets = extradata_to_annexb(video.codec, video.extradata) if video else None
                sound = next((s for s in item.streams if s.kind == "audio"), None) if audio else None
                continue
            if isinstance(item, GapMarker):
                g_start, g_end = max(item.start.timestamp(), t_start), min(item.end.timestamp(), t_end)
                if g_end > g_start:
                    yield Gap(g_start, g_end, item.reason)
                need_keyframe = True
                continue
            if sound is not None and item.stream == sound.index and t_start <= item.wallclock < t_end:
                yield Sound(item.data, item.wallclock, sound)
                continue
            if video is None or item.stream != video.index or not t_start <= item.wallclock < t_end:
                continue
            if need_keyframe:
                if not item.is_keyframe:
                    continue
                need_keyframe = False
            # A keyframe without SPS/PPS gets the stream's, so a viewer can start decoding there.
            data = with_parameter_sets(item.data, parameter_sets) if item.is_keyframe else item.data
            lead = 0.0
            if item.pts is not None and item.dts is not None and item.pts > item.dts:
                lead = float((item.pts - item.dts) * video.time_base)
            yield Frame(data, item.wallclock, item.is_keyframe, lead)
    finally:
        close = getattr(items, "aclose", None)  # the reader's generator: let it end now, not at GC
        if close is not None:
            await close()
