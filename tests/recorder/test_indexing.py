"""Indexing sealed segments: retried with doubling waits while the index fails, then counted and reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from recorder.reports import LogOnlySink, RecordingEventKind
from recorder.indexing import INDEX_RETRIES, SegmentIndexer, retry_delays
from recorder.segment import SealedSegment
from recorder.status import StorageState

T = datetime(2026, 5, 4, 3, 0, tzinfo=UTC)


def segment(status: str = "sealed") -> SealedSegment:
    return SealedSegment(
        camera_id="cam1", path="cam1/2026/05/04/x.mp4", start=T, end=T + timedelta(seconds=2), bytes=1234,
        sha256="ab" * 32, prev_sha256=None, status=status, codec="h264", width=64, height=64,
        audio_codec=None, drift_ms=12.5, timestamps="{}", seal_latency_s=0.01,
    )


class FlakyIndex:
    """Fails the first `failures` adds, then takes segments."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.added: list[SealedSegment] = []

    async def add(self, seg: SealedSegment) -> object:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database away")
        self.added.append(seg)
        return seg


@pytest.mark.parametrize(
    ("tries", "first", "expected"),
    [
        (INDEX_RETRIES, 0.5, [0.5, 1.0, 2.0, 4.0]),
        (1, 0.5, []),
        (3, 2.0, [2.0, 4.0]),
    ],
)
def test_retry_delays_double(tries: int, first: float, expected: list[float]) -> None:
    assert retry_delays(tries, first) == expected


@pytest.mark.parametrize("failures", range(INDEX_RETRIES + 2))
async def test_index_retries_then_reports(tmp_path: Path, failures: int) -> None:
    index, sink, slept = FlakyIndex(failures), LogOnlySink(), []
    state = StorageState(tmp_path)

    async def sleep(delay: float) -> None:
        slept.append(delay)

    indexer = SegmentIndexer(index, state, sink, sleep)
    seg = segment()
    indexed = await indexer.add(seg)
    assert indexed is (failures < INDEX_RETRIES)
    assert slept == retry_delays()[: min(failures, INDEX_RETRIES - 1)]
    if indexed:
        assert index.added == indexer.indexed == [seg]
        assert (state.sealed_total, state.bytes_used) == (1, seg.bytes)
        [event] = sink.events
        assert (event.kind, event.sha256, event.details["drift_ms"]) == (
            RecordingEventKind.SEGMENT_SEALED, seg.sha256, 12.5)
    else:  # left for the next start's recovery, which indexes sealed files it finds
        assert indexer.indexed == [] and sink.events == [] and state.sealed_total == 0


async def test_a_recovered_segment_is_reported_as_recovered(tmp_path: Path) -> None:
    sink, state = LogOnlySink(), StorageState(tmp_path)
    await SegmentIndexer(FlakyIndex(0), state, sink).add(segment("recovered"))
    assert [e.kind for e in sink.events] == [RecordingEventKind.SEGMENT_RECOVERED]
    assert (state.recovered_total, state.sealed_total) == (1, 0)
