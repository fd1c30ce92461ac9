"""A UTC time-code track for exported MP4s: one 3GPP timed-text (tx3g, FFmpeg's mov_text) cue per
wall-clock second, "<label> · 2026-12-04 10:00:01 UTC", starting at the file time where that
UTC second begins. Players show it as a subtitle; `ffmpeg -i f.mp4 -map 0:s:0 out.srt` reads it.

The cues are muxed as raw tx3g samples (3GPP TS 26.245 5.17: a 16-bit big-endian length and the
UTF-8 text), so no subtitle encoder is opened: FFmpeg's mov_text encoder needs an ASS header.
The MP4 muxer copies the stream's extradata verbatim into the sample description after the
SampleEntry header, so the extradata is the TextSampleEntry's fields (`sample_description`).
"""

from __future__ import annotations

import io
import math
import struct
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction

import av

# Ticks of the time-code track: the 90 kHz of RTP video, so a cue boundary sits within 11 us
# of the UTC second (the SRT text rounds to milliseconds; the file keeps the finer time).
TIME_BASE = Fraction(1, 90000)
# What FFmpeg's mov_text encoder writes by default: with these an SRT conversion carries no
# <font> tags.
FONT = b"Arial"
FONT_SIZE = 16

_templates = threading.local()


def sample_description() -> bytes:
    """The TextSampleEntry fields after the SampleEntry header (3GPP TS 26.245 5.16)."""
    out = struct.pack(">I", 0)  # displayFlags
    out += struct.pack(">bb", 1, -1)  # horizontal: centre; vertical: bottom
    out += bytes((0, 0, 0, 0xFF))  # background RGBA
    out += struct.pack(">hhhh", 0, 0, 0, 0)  # default text box: the whole track
    out += struct.pack(">HHHBB", 0, 0, 1, 0, FONT_SIZE) + bytes((0xFF, 0xFF, 0xFF, 0xFF))  # StyleRecord
    fonts = struct.pack(">HHB", 1, 1, len(FONT)) + FONT  # one entry: font 1
    return out + struct.pack(">I", 8 + len(fonts)) + b"ftab" + fonts


def sample(text: str) -> bytes:
    """One tx3g sample: the text's length, then the text."""
    raw = text.encode()
    return struct.pack(">H", len(raw)) + raw


def cue_text(label: str, second: int) -> str:
    """What the cue of one UTC second says."""
    return f"{label} · {datetime.fromtimestamp(second, UTC):%Y-%m-%d %H:%M:%S} UTC"


def add_timecode_stream(container: av.container.OutputContainer) -> av.stream.Stream:
    """A mov_text track in `container` that takes raw tx3g samples (worker threads only)."""
    template: av.stream.Stream | None = getattr(_templates, "stream", None)
    if template is None:
        # A stream to copy the codec from, never opened: add_stream_from_template marks the new
        # codec context as initialised, so PyAV does not open the mov_text encoder at the header.
        _templates.container = av.open(io.BytesIO(), "w", format="mp4")
        template = _templates.stream = _templates.container.add_stream("mov_text")
    stream = container.add_stream_from_template(template, opaque=True)
    stream.time_base = TIME_BASE
    stream.codec_context.time_base = TIME_BASE
    stream.codec_context.extradata = sample_description()
    stream.metadata["handler_name"] = "UTC time code"
    return stream


@dataclass(frozen=True, slots=True)
class Cue:
    """One second's text, timed in TIME_BASE ticks of the file."""

    second: int  # the UTC second (Unix time) the cue names
    start: int
    duration: int
    text: str


class TimecodeCues:
    """The cues of one file whose time 0 is the UTC instant `first_wall`, handed out as the
    video passes each second (so the muxer's interleaving never holds more than about a second)."""

    def __init__(self, label: str, first_wall: float) -> None:
        self.label = label
        self.first_wall = first_wall
        self._second = math.floor(first_wall)  # the next cue to hand out
        self._seen = first_wall

    def advance(self, wall: float) -> list[Cue]:
        """Cues of the seconds that end at or before `wall` (a frame at `wall` is shown)."""
        self._seen = max(self._seen, wall)
        out = []
        while self._second + 1 <= self._seen:
            out.append(self._cue(self._second + 1))
        return out

    def finish(self, end_wall: float) -> list[Cue]:
        """The remaining cues, the last ending at `end_wall` (where the last frame ends)."""
        out = self.advance(end_wall)
        if self._second < end_wall:
            out.append(self._cue(end_wall))
        return out

    def _cue(self, until: float) -> Cue:
        second = self._second
        start = self._ticks(max(second, self.first_wall))
        end = self._ticks(min(second + 1, until))
        self._second += 1
        return Cue(second, start, max(end - start, 1), cue_text(self.label, second))

    def _ticks(self, wall: float) -> int:
        return round((wall - self.first_wall) / TIME_BASE)
