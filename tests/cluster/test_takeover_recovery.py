"""Recovery and gaps under a lease, on a real PostgreSQL and one storage directory two nodes share: the
node that takes a camera over recovers a copy of the previous owner's open segment (indexed under the new
epoch as "recovered") and quarantines the original, so the previous owner, paused and resumed with the
file still open, appends to the quarantined file and cannot seal over the copy; another camera's open
file is not touched; sealed files no row covers are indexed only when they continue the camera's chain
(verify-recordings agrees); a gap row under a lost epoch is refused like a segment."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cluster.fencing import still_owner
from cluster.leases import LeaseBook
from core.clock import SystemClock
from recorder.gaps import Gaps
from recorder.index import GapFenced, SegmentIndex
from recorder.models import Gap, Segment
from recorder.muxthread import Failed, MuxThread, Result, Sealed
from recorder.recovery import complete_prefix
from recorder.reports import LogOnlySink, RecordingEventKind
from recorder.segmentfile import hash_file
from recorder.status import StorageState
from recorder.store import QUARANTINE_DIR, SegmentStore
from recorder.takeover import recover_camera
from recorder.verify import verify_index
from tests.recorder.test_muxthread import GOP, h264_packets

CAMERA, OTHER = "gate", "yard"
LEASE_S = 1.0
T = datetime(2026, 12, 5, 7, 0, tzinfo=UTC)


def has_fragments(path: Path, size: int) -> bool:
    return path.exists() and complete_prefix(path) >= size > 0


async def fragments_on_disk(path: Path, size: int) -> None:
    for _ in range(200):
        if has_fragments(path, size):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{path}: not {size} bytes of whole fragments")


async def test_the_new_owner_recovers_a_copy_and_the_resumed_old_owner_cannot_alter_it(
    db: async_sessionmaker[AsyncSession], tmp_path: Path,
) -> None:
    store = SegmentStore(tmp_path / "shared")
    index = SegmentIndex(db, SystemClock(), still_owner)
    a, b = LeaseBook(db, "node-a", LEASE_S), LeaseBook(db, "node-b", LEASE_S)
    lease_a = await a.acquire(CAMERA)
    assert lease_a is not None
    info, packets = h264_packets(4 * GOP + 1)
    loop = asyncio.get_running_loop()
    results: list[Result] = []
    # Node A's writer for CAMERA, and another node's for OTHER, both mid-segment on the shared storage.
    writer_a = MuxThread(store, CAMERA, None, loop, results.append)
    other = MuxThread(store, OTHER, None, loop, lambda _result: None)
    for thread in (writer_a, other):
        thread.start()
        thread.open((info,), T, packets[0], packets[0].dts or 0)
        for packet in packets[: 2 * GOP + 1]:
            thread.packet(packet, packet.pts or 0, packet.dts or 0)
    partial, other_partial = store.partial_path(CAMERA, T), store.partial_path(OTHER, T)
    await fragments_on_disk(partial, 1)
    await fragments_on_disk(other_partial, 1)
    await asyncio.sleep(0.1)
    other_before = other_partial.read_bytes()
    try:
        # A pauses past its lease; B takes CAMERA over and recovers its files under the new epoch.
        await asyncio.sleep(LEASE_S + 0.2)
        lease_b = await b.acquire(CAMERA)
        assert lease_b is not None and lease_b.failed_over_from == "node-a"
        sink = LogOnlySink()
        report = await recover_camera(CAMERA, lease_b.epoch, store, index, db, StorageState(store.root), sink)
        [copy] = report.recovered
        final = store.final_path(CAMERA, T)
        assert copy.path == store.relative(final) and copy.status == "recovered"
        assert hash_file(final) == (copy.sha256, copy.bytes)
        quarantined = store.root / QUARANTINE_DIR / partial.name
        assert quarantined.exists() and not partial.exists()
        async with db() as session:
            [row] = (await session.scalars(select(Segment))).all()
        assert (row.path, row.status, row.lease_epoch) == (copy.path, "recovered", lease_b.epoch)
        assert [e.kind for e in sink.events] == [RecordingEventKind.SEGMENT_RECOVERED]
        # Only the camera whose lease B took: the other node's open file is as it was, where it was.
        assert other_partial.read_bytes() == other_before
        # A resumes with the file still open: what it appends goes to the quarantined original, and its
        # seal finds the copy at the final name and fails; the copy B indexed is unchanged.
        for packet in packets[2 * GOP + 1:]:
            writer_a.packet(packet, packet.pts or 0, packet.dts or 0)
        writer_a.seal(T + timedelta(seconds=2), 0.0)
    finally:
        for thread in (writer_a, other):
            thread.stop()
            await thread.done
    assert isinstance(results[-1], Failed) and results[-1].salvaged is None, results
    assert hash_file(final) == (copy.sha256, copy.bytes)
    assert quarantined.stat().st_size > copy.bytes


async def test_a_gap_under_a_lost_epoch_is_refused_like_a_segment(
    db: async_sessionmaker[AsyncSession],
) -> None:
    index = SegmentIndex(db, SystemClock(), still_owner)
    a, b = LeaseBook(db, "node-a", LEASE_S), LeaseBook(db, "node-b", LEASE_S)
    lease_a = await a.acquire(CAMERA)
    assert lease_a is not None
    open_under_a = await index.open_gap(CAMERA, T, "camera stopped", lease_epoch=lease_a.epoch)
    await asyncio.sleep(LEASE_S + 0.2)
    lease_b = await b.acquire(CAMERA)
    assert lease_b is not None
    # A, resumed: it can neither open, close nor take over the camera's gaps.
    with pytest.raises(GapFenced):
        await index.open_gap(CAMERA, T + timedelta(seconds=5), "camera reconnected", lease_epoch=lease_a.epoch)
    with pytest.raises(GapFenced):
        await index.close_gap(open_under_a, T + timedelta(seconds=6), lease_epoch=lease_a.epoch)
    with pytest.raises(GapFenced):
        await index.adopt_open_gap(CAMERA, lease_epoch=lease_a.epoch)
    # Through the writer's Gaps it is logged and dropped, not raised.
    stale = Gaps(CAMERA, index, LogOnlySink(), lease_epoch=lease_a.epoch)
    stale.stopped(T + timedelta(seconds=7), "camera stopped")
    await stale.flush()
    # B continues the gap A left open and closes it under its own epoch.
    current = Gaps(CAMERA, index, LogOnlySink(), lease_epoch=lease_b.epoch)
    await current.resume(None, "node failover")
    await current.end(T + timedelta(seconds=8))
    async with db() as session:
        rows = (await session.scalars(select(Gap).order_by(Gap.id))).all()
    assert [(g.id, g.reason, g.end) for g in rows] == [(open_under_a, "camera stopped", T + timedelta(seconds=8))]


async def test_sealed_files_the_index_lacks_are_indexed_only_when_they_continue_the_chain(
    db: async_sessionmaker[AsyncSession], tmp_path: Path,
) -> None:
    store = SegmentStore(tmp_path / "shared")
    index = SegmentIndex(db, SystemClock(), still_owner)
    lease_a = await LeaseBook(db, "node-a", LEASE_S).acquire(CAMERA)
    assert lease_a is not None
    info, packets = h264_packets(3 * GOP)
    loop = asyncio.get_running_loop()
    step = timedelta(seconds=GOP / 25)
    sealed: list[Sealed] = []
    # A seals three segments in one chain and dies before indexing the last two; a file of another
    # chain (a previous owner cut off from the database, sealed after an earlier takeover) lies beside.
    for prev, starts in ((None, [T, T + step, T + 2 * step]), (None, [T + 10 * step])):
        results: list[Result] = []
        thread = MuxThread(store, CAMERA, prev, loop, results.append)
        thread.start()
        try:
            for start in starts:
                thread.open((info,), start, packets[0], packets[0].dts or 0)
                for packet in packets[:GOP]:
                    thread.packet(packet, packet.pts or 0, packet.dts or 0)
                thread.seal(start + step, 0.0)
        finally:
            thread.stop()
            await thread.done
        sealed += [r for r in results if isinstance(r, Sealed)]
    first, second, third, foreign = (r.segment for r in sealed)
    await index.add(replace(first, lease_epoch=lease_a.epoch))
    await asyncio.sleep(LEASE_S + 0.2)
    lease_b = await LeaseBook(db, "node-b", LEASE_S).acquire(CAMERA)
    assert lease_b is not None
    report = await recover_camera(CAMERA, lease_b.epoch, store, index, db, StorageState(store.root), LogOnlySink())
    assert [s.path for s in report.indexed_orphans] == [second.path, third.path]
    assert report.quarantined == [Path(foreign.path).name] and not report.recovered
    async with db() as session:
        rows = (await session.scalars(select(Segment).order_by(Segment.start))).all()
    assert [(r.path, r.status, r.lease_epoch) for r in rows] == [
        (first.path, "sealed", lease_a.epoch), (second.path, "recovered", lease_b.epoch),
        (third.path, "recovered", lease_b.epoch)]
    assert not store.absolute(foreign.path).exists()
    assert await verify_index(db, store) == []
