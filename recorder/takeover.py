"""Recovery at lease acquisition, for nodes that share one storage.path: a node recovers a camera's
files only once it holds that camera's lease (its previous owner is dead, or fenced), before its writer
starts, and never touches another camera's files (another node may be writing them).

What it recovers is indexed under the new owner's epoch (checked by the index's LeaseCheck in the same
transaction, like every segment) with status "recovered": the row says the file came from recovery,
and its epoch says which owner vouched for it; the file's own header keeps its start and chain link.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recorder.index import CameraTail
from recorder.indexing import SegmentAdder, SegmentIndexer
from recorder.models import Deletion, Segment
from recorder.recovery import describe_file, quarantine, salvage_copy
from recorder.reports import RecordingEvent, RecordingEventKind, RecordingEventSink, emit
from recorder.segment import SealedSegment
from recorder.status import StorageState
from recorder.store import SegmentStore, parse_segment_name

# As verify-recordings allows (recorder/verify.py): a recovered file may start this much before the
# newest segment's end (rounding of the end time).
_OVERLAP_TOLERANCE = timedelta(milliseconds=1)

log = logging.getLogger(__name__)


@dataclass
class TakeoverReport:
    """What recovering one camera at lease acquisition found."""

    camera: str
    epoch: int
    recovered: list[SealedSegment] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    #: Sealed files no index row covered (a node died between sealing and indexing).
    indexed_orphans: list[SealedSegment] = field(default_factory=list)
    #: Segments the index refused because the lease was lost during recovery (quarantined).
    fenced: list[SealedSegment] = field(default_factory=list)


class TakeoverIndex(SegmentAdder, Protocol):
    """The parts of the segment index recovery at acquisition uses."""

    async def tail(self, camera: str, stream: str = "main") -> CameraTail: ...


async def recover_camera(
    camera: str,
    epoch: int,
    store: SegmentStore,
    index: TakeoverIndex,
    db: async_sessionmaker[AsyncSession],
    state: StorageState,
    events: RecordingEventSink,
) -> TakeoverReport:
    """Recover `camera`'s files under lease `epoch`, oldest first per stream: a sealed file no index row
    covers is indexed in place, an unsealed one is copied (its playable prefix, the original quarantined,
    see recovery.salvage_copy). Each is indexed only when it continues the stream's chain in the index
    (its prev_sha256 is the newest segment's hash, and it starts after that one ends); one that does not
    (a previous owner cut off from the database sealed it after an earlier takeover) is quarantined, so a
    recovered file never forks a chain or overlaps what another owner recorded."""
    report = TakeoverReport(camera, epoch)
    indexer = SegmentIndexer(index, state, events, lease_epoch=epoch, store=store)
    # Read after the lease was taken: whatever the previous owner indexed under its lease is committed.
    async with db() as session:
        known = set((await session.scalars(select(Segment.path).where(Segment.camera_id == camera))).all())
        deleted = set((await session.scalars(select(Deletion.sha256).where(Deletion.camera_id == camera))).all())
    finals = [p for p in await asyncio.to_thread(store.finals_of, camera) if store.relative(p) not in known]
    partials = await asyncio.to_thread(store.partials_of, camera)
    tails: dict[str, CameraTail] = {}
    ordered = sorted([*finals, *partials], key=_stream_and_start)
    for n, path in enumerate(ordered):
        stream = _stream_and_start(path)[0]
        if stream not in tails:
            tails[stream] = await index.tail(camera, stream)
        unsealed = path in partials
        try:
            found = await asyncio.to_thread(salvage_copy if unsealed else describe_file, store, path)
        except OSError as error:  # gone meanwhile (its writer sealed or quarantined it): the next one
            log.warning("camera %s: %s not recovered: %s", camera, path.name, error, extra={"camera": camera})
            continue
        later = ordered[n + 1] if n + 1 < len(ordered) else None
        if found is not None and later is not None and _stream_and_start(later)[0] == stream:
            # A sealed file's end is read from its last sample's duration, which can reach past the cut
            # the writer made; the next file of the stream starts at that cut.
            found = replace(found, end=max(found.start, min(found.end, _stream_and_start(later)[1])))
        if found is None:
            if unsealed:  # quarantined by salvage_copy
                report.quarantined.append(path.name)
                await emit(events, RecordingEvent(
                    RecordingEventKind.SEGMENT_QUARANTINED, camera,
                    reason="unsealed file of a previous owner not playable", details={"file": path.name}))
            continue
        if found.sha256 in deleted:
            continue  # retention deleted it and died before the unlink: the next single-node start finishes it
        tail = tails[stream]
        if not _continues(found, tail):
            await _set_aside(store, events, found, tail, report)
            continue
        seg = replace(found, status="recovered")
        if await indexer.add(seg):
            tails[stream] = CameraTail(seg.sha256, seg.end)
            (report.recovered if unsealed else report.indexed_orphans).append(seg)
            if not unsealed:
                log.warning("camera %s: indexed sealed segment %s that the index did not know (epoch %d)",
                            camera, seg.path, epoch, extra={"camera": camera})
    report.fenced = list(indexer.fenced)
    if report.recovered or report.quarantined or report.indexed_orphans:
        log.warning("camera %s: recovery under epoch %d: %d recovered, %d quarantined, %d orphans indexed",
                    camera, epoch, len(report.recovered), len(report.quarantined), len(report.indexed_orphans),
                    extra={"camera": camera})
    return report


def _stream_and_start(path: Path) -> tuple[str, datetime]:
    named = parse_segment_name(path.name)
    return (named[2], named[1]) if named is not None else ("main", datetime.min.replace(tzinfo=UTC))


def _continues(seg: SealedSegment, tail: CameraTail) -> bool:
    """Whether `seg` is the next link of the chain that ends at `tail` (and does not overlap it)."""
    if tail.sha256 is None:
        return True
    return seg.prev_sha256 == tail.sha256 and (tail.end is None or seg.start >= tail.end - _OVERLAP_TOLERANCE)


async def _set_aside(
    store: SegmentStore, events: RecordingEventSink, seg: SealedSegment, tail: CameraTail, report: TakeoverReport,
) -> None:
    try:
        target = await asyncio.to_thread(quarantine, store, store.absolute(seg.path))
    except OSError as error:
        log.error("camera %s: %s could not be quarantined: %s", seg.camera_id, seg.path, error)
        return
    report.quarantined.append(target.name)
    log.warning("camera %s: %s does not continue the indexed chain (ends at %s); quarantined as %s",
                seg.camera_id, seg.path, tail.sha256, target, extra={"camera": seg.camera_id})
    await emit(events, RecordingEvent(
        RecordingEventKind.SEGMENT_QUARANTINED, seg.camera_id, seg.start, seg.end, seg.sha256,
        reason="recovered file does not continue the camera's chain", details={"file": store.relative(target)}))
