"""Spans of continuous recording (what MediaMTX's /list answers): the ranges one export covers.

Segments that touch, with the same codec and picture size, make one span: an export
(recorder/export.py) runs through them as one file. A gap, or a change of stream
parameters, starts a new span, because that is exactly where an export stops
(cf. MediaMTX internal/playback on_list.go, segmentFMP4CanBeConcatenated).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from recorder.models import Segment
from recorder.reader import TOUCH


@dataclass(frozen=True, slots=True)
class Span:
    """[start, end) of continuous recording of one camera."""

    start: datetime
    end: datetime

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


def _params(seg: Segment) -> tuple[str, int, int, str | None]:
    return seg.codec, seg.width, seg.height, seg.audio_codec


def spans(segments: Iterable[Segment], start: datetime | None = None, end: datetime | None = None) -> list[Span]:
    """Merge time-ordered segments into spans, then clip them to [start, end] (either may be None)."""
    merged: list[tuple[datetime, datetime, tuple[str, int, int, str | None]]] = []
    for seg in segments:
        if merged and seg.start - merged[-1][1] <= TOUCH and _params(seg) == merged[-1][2]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], seg.end), merged[-1][2])
        else:
            merged.append((seg.start, seg.end, _params(seg)))
    out: list[Span] = []
    for s, e, _ in merged:
        if start is not None:
            s = max(s, start)
        if end is not None:
            e = min(e, end)
        if e > s:
            out.append(Span(s, e))
    return out
