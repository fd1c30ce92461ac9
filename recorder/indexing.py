"""Sealed segments into the index, retried while the database is away, then counted and logged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from recorder.reports import RecordingEvent, RecordingEventKind, RecordingEventSink, emit
from recorder.segment import SealedSegment
from recorder.status import StorageState

log = logging.getLogger(__name__)

# Tries to index a segment before leaving it to the next start (recovery indexes sealed files
# the index does not know): with the waits of `retry_delays` that is 7.5 s of database outage.
INDEX_RETRIES = 5
FIRST_RETRY_S = 0.5


def retry_delays(tries: int = INDEX_RETRIES, first: float = FIRST_RETRY_S) -> list[float]:
    """The waits between `tries` attempts: doubling from `first`."""
    return [first * 2**i for i in range(tries - 1)]


class SegmentAdder(Protocol):
    """The part of the segment index that takes sealed segments (idempotent on the path)."""

    async def add(self, seg: SealedSegment) -> object: ...


class SegmentIndexer:
    """Indexes one camera's sealed segments in order, with retries; `indexed` lists the ones done."""

    def __init__(
        self,
        index: SegmentAdder,
        state: StorageState,
        events: RecordingEventSink,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.index = index
        self.state = state
        self.events = events
        self._sleep = sleep
        self.indexed: list[SealedSegment] = []

    async def add(self, seg: SealedSegment) -> bool:
        """Index `seg`, count it and report it; False when every try failed (logged)."""
        for delay in [*retry_delays(), None]:
            try:
                await self.index.add(seg)
                break
            except Exception:
                if delay is None:
                    log.exception("camera %s: segment %s sealed but not indexed; the next start indexes it",
                                  seg.camera_id, seg.path)
                    return False
                await self._sleep(delay)
        self.indexed.append(seg)
        recovered = seg.status == "recovered"
        self.state.note_sealed(seg.camera_id, seg.start, seg.bytes, seg.seal_latency_s, recovered)
        kind = RecordingEventKind.SEGMENT_RECOVERED if recovered else RecordingEventKind.SEGMENT_SEALED
        await emit(self.events, RecordingEvent(
            kind, seg.camera_id, seg.start, seg.end, seg.sha256,
            details={"bytes": seg.bytes, "path": seg.path, "prev_sha256": seg.prev_sha256,
                     "drift_ms": seg.drift_ms, **({} if seg.stream == "main" else {"stream": seg.stream})},
        ))
        return True
