"""Gap rows of one camera against an in-memory index: when they open, close, and with what reason."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from recorder.reports import LogOnlySink, RecordingEventKind
from recorder.gaps import Gaps, failure_reason, fell_behind_reason, stream_change_reason
from recorder.models import Gap
from streams.packet import StreamChange, StreamInfo

T = datetime(2026, 5, 4, 3, 0, tzinfo=UTC)
CAM = "cam1"
VIDEO = StreamInfo(0, "video", "h264", Fraction(1, 90_000))


def at(s: float) -> datetime:
    return T + timedelta(seconds=s)


class FakeGapIndex:
    """Gap rows in a dict, as SegmentIndex keeps them in the database; can be made to fail."""

    def __init__(self) -> None:
        self.rows: dict[int, Gap] = {}
        self.failing = False
        self.opening: asyncio.Event | None = None  # when set, open_gap waits for it

    async def open_gap(
        self, camera: str, start: datetime, reason: str, stream: str = "main", lease_epoch: int | None = None
    ) -> int:
        if self.opening is not None:
            await self.opening.wait()
        if self.failing:
            raise ConnectionError("database away")
        gap_id = len(self.rows) + 1
        self.rows[gap_id] = Gap(id=gap_id, camera_id=camera, start=start, end=None, reason=reason[:256],
                                stream=stream)
        return gap_id

    async def close_gap(self, gap_id: int, end: datetime, lease_epoch: int | None = None) -> Gap | None:
        if self.failing:
            raise ConnectionError("database away")
        gap = self.rows.get(gap_id)
        if gap is not None:
            gap.end = max(end, gap.start)
        return gap

    async def adopt_open_gap(self, camera: str, stream: str = "main", lease_epoch: int | None = None) -> Gap | None:
        open_rows = [g for g in self.rows.values() if (g.camera_id, g.stream) == (camera, stream) and g.end is None]
        return open_rows[-1] if open_rows else None

    def spans(self) -> list[tuple[datetime, datetime | None, str]]:
        return [(g.start, g.end, g.reason) for g in self.rows.values()]


def kinds(sink: LogOnlySink) -> list[RecordingEventKind]:
    return [e.kind for e in sink.events]


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (stream_change_reason(StreamChange((VIDEO,))), "camera reconnected"),
        (stream_change_reason(StreamChange(())), "camera stopped"),
        (stream_change_reason(StreamChange((), "stalled: no packets for 2.0 s")), "stalled: no packets for 2.0 s"),
        (fell_behind_reason(12), "recorder fell behind: 12 packets dropped"),
        (failure_reason(True, "OSError: [Errno 28] No space left on device"), "storage full"),
        (failure_reason(False, "ValueError: bad dts"), "write failed: ValueError: bad dts"),
        (failure_reason(False, "x" * 300), "write failed: " + "x" * 242),  # fits the column
    ],
)
def test_reasons(reason: str, expected: str) -> None:
    assert reason == expected


async def test_a_stop_opens_a_gap_that_the_next_segment_closes() -> None:
    index, sink = FakeGapIndex(), LogOnlySink()
    gaps = Gaps(CAM, index, sink)
    gaps.stopped(at(10), "camera stopped")
    assert index.rows == {}  # noted only: written by the next flush
    await gaps.flush()
    assert index.spans() == [(at(10), None, "camera stopped")]
    await gaps.end(at(25))
    assert index.spans() == [(at(10), at(25), "camera stopped")]
    assert kinds(sink) == [RecordingEventKind.GAP_STARTED, RecordingEventKind.GAP_ENDED]
    assert (sink.events[1].start, sink.events[1].end, sink.events[1].reason) == (at(10), at(25), "camera stopped")


async def test_end_writes_a_noted_gap_first() -> None:
    index, sink = FakeGapIndex(), LogOnlySink()
    gaps = Gaps(CAM, index, sink)
    gaps.stopped(at(1), "write failed: x")
    await gaps.end(at(2))
    assert index.spans() == [(at(1), at(2), "write failed: x")]


async def test_the_first_reason_stands_until_the_gap_ends() -> None:
    index, sink = FakeGapIndex(), LogOnlySink()
    gaps = Gaps(CAM, index, sink)
    gaps.stopped(at(1), "recorder fell behind: 3 packets dropped")
    gaps.stopped(at(2), "camera stopped")  # still the same outage
    await gaps.flush()
    gaps.stopped(at(3), "camera reconnected")
    await gaps.flush()
    await gaps.end(at(4))
    gaps.stopped(at(5), "camera stopped")  # a new outage
    await gaps.end(at(6))
    assert index.spans() == [
        (at(1), at(4), "recorder fell behind: 3 packets dropped"),
        (at(5), at(6), "camera stopped"),
    ]


async def test_end_without_a_gap_does_nothing() -> None:
    index, sink = FakeGapIndex(), LogOnlySink()
    gaps = Gaps(CAM, index, sink)
    await gaps.flush()
    await gaps.end(at(1))
    assert index.rows == {} and sink.events == []


@pytest.mark.parametrize(
    ("left_open", "last_end", "expected"),
    [
        (None, None, []),  # a camera never recorded: no gap before its first segment
        (None, at(-60), [(at(-60), at(0), "recorder was not running")]),
        # a previous run stopped during an outage: that gap goes on, with its reason
        ((at(-90), "camera stopped"), at(-100), [(at(-90), at(0), "camera stopped")]),
    ],
)
async def test_resume_continues_or_opens_the_gap_since_the_last_recording(
    left_open: tuple[datetime, str] | None,
    last_end: datetime | None,
    expected: list[tuple[datetime, datetime | None, str]],
) -> None:
    index, sink = FakeGapIndex(), LogOnlySink()
    if left_open is not None:
        await index.open_gap(CAM, *left_open)
    gaps = Gaps(CAM, index, sink)
    await gaps.resume(last_end, "recorder was not running")
    await gaps.end(at(0))
    assert index.spans() == expected


async def test_a_failing_index_loses_the_row_not_the_recording() -> None:
    index, sink = FakeGapIndex(), LogOnlySink()
    gaps = Gaps(CAM, index, sink)
    index.failing = True
    gaps.stopped(at(1), "camera stopped")
    await gaps.flush()  # logged, nothing raised
    await gaps.end(at(2))
    index.failing = False
    gaps.stopped(at(3), "camera stopped")  # the next outage is recorded again
    await gaps.end(at(4))
    assert index.spans() == [(at(3), at(4), "camera stopped")]
    assert kinds(sink) == [RecordingEventKind.GAP_STARTED, RecordingEventKind.GAP_ENDED]


async def test_a_stop_noted_while_the_row_is_written_is_the_same_gap() -> None:
    index, sink = FakeGapIndex(), LogOnlySink()
    gaps = Gaps(CAM, index, sink)
    index.opening = asyncio.Event()
    gaps.stopped(at(1), "camera stopped")
    flushing = asyncio.create_task(gaps.flush())
    await asyncio.sleep(0)
    gaps.stopped(at(2), "write failed: x")  # e.g. the mux thread reports a failure meanwhile
    index.opening.set()
    await flushing
    await gaps.end(at(3))
    assert index.spans() == [(at(1), at(3), "camera stopped")]
