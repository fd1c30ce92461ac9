"""Sealed segments into the index, retried while the database is away, then counted and logged; a
segment written under a lost camera lease is refused by the index and quarantined instead."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Protocol

from recorder.index import SegmentFenced
from recorder.recovery import quarantine
from recorder.reports import RecordingEvent, RecordingEventKind, RecordingEventSink, emit
from recorder.segment import SealedSegment
from recorder.status import StorageState
from recorder.store import SegmentStore

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
        lease_epoch: int | None = None,
        store: SegmentStore | None = None,
    ) -> None:
        self.index = index
        self.state = state
        self.events = events
        self._sleep = sleep
        #: The camera lease this camera is recorded under (several nodes), stamped on each segment.
        self.lease_epoch = lease_epoch
        #: Where a fenced segment's file is quarantined from.
        self.store = store
        self.indexed: list[SealedSegment] = []
        #: Segments the index refused because the lease was lost meanwhile (their files quarantined).
        self.fenced: list[SealedSegment] = []
        self._lost = asyncio.Event()  # set when this node lost the camera's lease: see `add`

    def mark_lease_lost(self) -> None:
        """This node lost the camera's lease (cluster/keeper.py): stop retrying (see `add`)."""
        self._lost.set()

    @property
    def lease_lost(self) -> bool:
        return self._lost.is_set()

    async def add(self, seg: SealedSegment) -> bool:
        """Index `seg`, count it and report it; False when every try failed (logged) or the index
        refused it under a lost lease (quarantined, logged and reported). Once the lease is lost, one
        try and no more waiting (the writer is stopping): a segment that cannot be indexed because the
        database is away stays where it is, for the camera's next owner to index when it takes the lease
        (recorder/takeover.py), if it continues the chain."""
        if self.lease_epoch is not None:
            seg = replace(seg, lease_epoch=self.lease_epoch)
        for delay in [*retry_delays(), None]:
            try:
                await self.index.add(seg)
                break
            except SegmentFenced:
                await self._quarantine(seg, f"written under lease epoch {seg.lease_epoch} after another node "
                                            "took the camera")
                return False
            except Exception:
                if self.lease_lost:
                    log.warning("camera %s: segment %s sealed after the lease was lost and not indexed (the "
                                "database is away); left for the camera's next owner", seg.camera_id, seg.path,
                                extra={"camera": seg.camera_id})
                    return False
                if delay is None:
                    log.exception("camera %s: segment %s sealed but not indexed; %s", seg.camera_id, seg.path,
                                  "left for the camera's next owner" if self.lease_epoch is not None
                                  else "the next start indexes it")
                    return False
                await self._pause(delay)
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

    async def _pause(self, delay: float) -> None:
        """Wait `delay` before the next try, or until the lease is lost."""
        sleeping = asyncio.ensure_future(self._sleep(delay))
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait({sleeping, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in (sleeping, lost):
                waiting.cancel()
            await asyncio.gather(sleeping, lost, return_exceptions=True)

    async def _quarantine(self, seg: SealedSegment, reason: str) -> None:
        """Move a fenced segment's file aside (never deleted: it is what this node saw) and say so."""
        self.fenced.append(seg)
        where = seg.path
        if self.store is not None:
            try:
                where = self.store.relative(await asyncio.to_thread(quarantine, self.store, self.store.absolute(seg.path)))
            except OSError as error:
                log.error("camera %s: fenced segment %s could not be quarantined: %s", seg.camera_id, seg.path, error)
        log.warning("camera %s: segment %s written under lost lease epoch %s not indexed; quarantined as %s (%s)",
                    seg.camera_id, seg.path, seg.lease_epoch, where, reason, extra={"camera": seg.camera_id})
        await emit(self.events, RecordingEvent(
            RecordingEventKind.SEGMENT_QUARANTINED, seg.camera_id, seg.start, seg.end, seg.sha256,
            reason=reason,
            details={"file": where, "lease_epoch": seg.lease_epoch},
        ))
