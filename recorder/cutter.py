"""Where one camera's segments start and end: cut on origin keyframes every `segment_s`.

Pure: the writer asks and tells, and carries the decisions out on the mux thread.
"""

from __future__ import annotations

import enum
from datetime import datetime
from fractions import Fraction

from recorder.timeline import seconds
from streams.packet import MediaPacket, StreamInfo


class SegmentState(enum.Enum):
    CLOSED = "closed"  # no segment open; the next segment start opens one
    OPEN = "open"
    FAILED = "failed"  # the mux thread failed the last one and waits to be resumed before the next


def starts_segment(packet: MediaPacket, origin: StreamInfo) -> bool:
    """Whether a segment can start at `packet`: a keyframe of the origin stream (all audio is)."""
    return packet.stream == origin.index and (packet.is_keyframe or origin.kind == "audio")


class Cutter:
    """Decides when the open segment is cut, and keeps where the recording ends so far.

    `last_end` is the UTC end of the last origin packet written (its pts plus one frame): the
    end a segment is sealed at when the stream stops, and where a gap after it starts.
    """

    def __init__(self, segment_s: float, last_end: datetime | None = None) -> None:
        self.segment_s = segment_s
        self.state = SegmentState.CLOSED
        self.last_end = last_end
        self._first_pts = 0  # origin pts of the open segment's first packet
        self._min_drift: float | None = None  # of the open segment's origin packets
        self._last_dts: int | None = None  # of the connection's last origin packet
        # The duration of one origin frame, in ticks, taken from the last two packets; kept
        # across a reconnect, so the first packet of the next connection has a length too.
        self._frame_ticks = 0

    @property
    def is_open(self) -> bool:
        return self.state is SegmentState.OPEN

    def due(self, pts: int, time_base: Fraction) -> bool:
        """Whether the open segment is long enough to be cut at `pts` (a segment start)."""
        return self.state is SegmentState.OPEN and seconds(pts - self._first_pts, time_base) >= self.segment_s

    def opened(self, pts: int) -> None:
        """A segment was opened at origin `pts`."""
        self.state = SegmentState.OPEN
        self._first_pts = pts
        self._min_drift = None

    def cut(self, end: datetime) -> float:
        """Close the open segment at `end`; returns its drift in ms for the seal: the smallest
        (arrival - anchored time) of its origin packets."""
        self.state = SegmentState.CLOSED
        self.last_end = end
        return round((self._min_drift or 0.0) * 1000.0, 3)

    def failed(self, resume_from: datetime | None) -> None:
        """The mux thread lost the open segment; what was saved of it ends at `resume_from`."""
        self.state = SegmentState.FAILED
        self.last_end = resume_from

    def reconnected(self) -> None:
        """A new connection: its timestamps do not continue the last one's."""
        self._last_dts = None

    def written(self, pts: int, dts: int, drift: float) -> int:
        """An origin packet was written; returns the pts its frame ends at (for `extend`)."""
        self._min_drift = drift if self._min_drift is None else min(self._min_drift, drift)
        if self._last_dts is not None and dts > self._last_dts:
            self._frame_ticks = dts - self._last_dts
        self._last_dts = dts
        return pts + self._frame_ticks

    def extend(self, end: datetime) -> None:
        """The recording now reaches `end` (it never moves back this way)."""
        if self.last_end is None or end > self.last_end:
            self.last_end = end
