"""Timestamps of one connection: each stream's repaired, the origin stream's anchored to UTC.

Pure: no I/O and no clock; the wall time of a packet is what the source stamped on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction

from streams.packet import MediaPacket, StreamInfo

# Untimed packets (RTSP can start without pts) held until the stream's first timestamp.
MAX_HELD = 16
# The first packets of a connection come in a burst (the demuxer probed them during open),
# so their arrival time is late. The UTC anchor is the earliest (arrival - pts) over this
# much of the stream: arrival can only be delayed, never early.
ANCHOR_WINDOW_S = 1.5

#: A packet with its repaired (pts, dts).
TimedPacket = tuple[MediaPacket, int, int]


def to_utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def seconds(ticks: int, time_base: Fraction) -> float:
    """`ticks` of `time_base` in seconds: the same float as `float(ticks * time_base)` (an int
    true division rounds correctly), without building a Fraction for every packet."""
    return ticks * time_base.numerator / time_base.denominator


@dataclass
class TimestampRepair:
    """Per-stream timestamp repair: monotonic dts, pts >= dts, first untimed packets kept."""

    last_dts: int | None = None
    held: list[MediaPacket] = field(default_factory=list)

    def fix(self, packet: MediaPacket) -> list[TimedPacket]:
        pts, dts = packet.pts, packet.dts
        if pts is None and dts is None:
            if self.last_dts is None:
                if len(self.held) < MAX_HELD:
                    self.held.append(packet)
                return []
            pts = dts = self.last_dts + 1
        elif pts is None:
            pts = dts
        elif dts is None:
            dts = pts if self.last_dts is None else min(pts, self.last_dts + 1)
        assert pts is not None and dts is not None
        out: list[TimedPacket] = []
        if self.held:
            # Give the held packets the ticks just before the first timed one.
            base = dts - len(self.held)
            out = [(p, base + i, base + i) for i, p in enumerate(self.held)]
            self.held = []
            self.last_dts = base + len(out) - 1
        if self.last_dts is not None and dts <= self.last_dts:
            dts = self.last_dts + 1
        pts = max(pts, dts)
        self.last_dts = dts
        out.append((packet, pts, dts))
        return out


class UtcAnchor:
    """Puts one connection's packets on UTC: repairs each stream's timestamps, and holds them back
    until `ANCHOR_WINDOW_S` of the origin stream fixes the UTC of its pts 0 (`anchor`)."""

    def __init__(self, origin: StreamInfo, streams: Iterable[int]) -> None:
        self.origin = origin
        #: UTC seconds at origin pts 0; None until the anchor window has been seen.
        self.anchor: float | None = None
        self._repairs = {index: TimestampRepair() for index in streams}
        self._buffered: list[TimedPacket] = []

    def push(self, packet: MediaPacket) -> list[TimedPacket]:
        """Repair `packet`; returns the packets now on UTC, in order (none while the window fills).

        A packet of a stream this connection does not record gives nothing.
        """
        repair = self._repairs.get(packet.stream)
        if repair is None:
            return []
        origin = self.origin.index
        ready: list[TimedPacket] = []
        for timed in repair.fix(packet):
            if self.anchor is not None:
                ready.append(timed)
                continue
            self._buffered.append(timed)
            first = next((x for x in self._buffered if x[0].stream == origin), None)
            if first is None or timed[0].stream != origin:
                continue
            if seconds(timed[1] - first[1], self.origin.time_base) < ANCHOR_WINDOW_S:
                continue
            ready += self.drain()
        return ready

    def drain(self) -> list[TimedPacket]:
        """Fix the anchor from what is held back and return it all (the connection ends early, or the
        window is full); without an origin packet among them they cannot be placed and are dropped."""
        buffered, self._buffered = self._buffered, []
        tb = self.origin.time_base
        offsets = [p.wallclock - seconds(pts, tb) for p, pts, _ in buffered if p.stream == self.origin.index]
        if not offsets:
            return []
        self.anchor = min(offsets)
        return buffered

    def utc(self, pts: int) -> datetime:
        """The UTC of origin `pts`."""
        assert self.anchor is not None
        return to_utc(self.anchor + seconds(pts, self.origin.time_base))

    def drift(self, wallclock: float, pts: int) -> float:
        """Seconds by which an origin packet at `pts` arrived later than the anchor says."""
        assert self.anchor is not None
        return wallclock - (self.anchor + seconds(pts, self.origin.time_base))

    def start_at(self, pts: int, not_before: datetime | None) -> datetime:
        """The UTC of origin `pts` as the start of a segment, never before `not_before` (the end
        of the last one). A reconnect after clock drift would overlap the last segment: the
        anchor moves later instead, so recorded time stays monotonic."""
        assert self.anchor is not None
        start = self.utc(pts)
        if not_before is not None and start < not_before:
            self.anchor += (not_before - start).total_seconds()
            start = not_before
        return start
