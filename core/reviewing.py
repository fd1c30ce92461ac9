"""The replay desk's event vocabulary: one thing that happened on a camera, as the timeline and the
event list show it, whichever part of Pantau recorded it (camera events, state history, gaps, holds,
alerts, cases). Each part reads its own tables into these; gateway/http/review.py merges them."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

#: The families of kinds, the part before the first dot ("onvif.motion" is an "onvif" event).
FAMILIES = ("onvif", "camera", "recording", "hold", "alert", "case")


@dataclass(frozen=True, slots=True)
class ReviewWindow:
    """What a reader is asked for: these cameras, items overlapping [start, end), at most `cap` of them."""

    cameras: Collection[str]
    start: datetime
    end: datetime
    cap: int = 10_000

    def overlaps(self, start: datetime, end: datetime | None) -> bool:
        """Whether an item from `start` to `end` (None: still going or a moment) touches the window."""
        if end is None or end <= start:
            return self.start <= start < self.end
        return start < self.end and end > self.start


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """One event on the timeline: `kind` is "<family>.<what>", `end` None for a moment or an open span."""

    id: str
    kind: str
    camera: str
    start: datetime
    end: datetime | None
    title: str
    detail: str = ""

    def matches(self, kinds: Collection[str], text: str) -> bool:
        """Whether the item's kind starts with one of `kinds` (at a dot; none given: any) and its title
        or detail holds `text` (case-insensitive; empty: any)."""
        if kinds and not any(self.kind == k or self.kind.startswith(k.rstrip(".") + ".") for k in kinds):
            return False
        needle = text.casefold()
        return not needle or needle in self.title.casefold() or needle in self.detail.casefold()
