"""The segment index under a lease, on a real PostgreSQL: a writer whose epoch is no longer its
camera's cannot index a segment (its file is quarantined and reported), the current owner can, and
an acquire says whom it took the camera from and whether that was a failover or a handover."""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cluster.fencing import still_owner
from cluster.leases import LeaseBook
from core.clock import SystemClock
from recorder.index import SegmentFenced, SegmentIndex
from recorder.indexing import SegmentIndexer
from recorder.models import Segment
from recorder.reports import LogOnlySink, RecordingEventKind
from recorder.segment import SealedSegment
from recorder.status import StorageState
from recorder.store import QUARANTINE_DIR, SegmentStore

CAMERA = "gate"
LEASE_S = 1.0
T = datetime(2026, 12, 5, 7, 0, tzinfo=UTC)


def sealed(store: SegmentStore, n: int) -> SealedSegment:
    """A sealed segment's record with a (read-only) file on disk, as the mux thread leaves it."""
    start = T + timedelta(seconds=2 * n)
    path = store.final_path(CAMERA, start)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"segment %d" % n)
    os.chmod(path, 0o444)
    return SealedSegment(
        camera_id=CAMERA, path=store.relative(path), start=start, end=start + timedelta(seconds=2), bytes=9,
        sha256=f"{n:064x}", prev_sha256=None, status="sealed", codec="h264", width=64, height=64,
        audio_codec=None, drift_ms=0.0, timestamps="{}",
    )


async def epochs(db: async_sessionmaker[AsyncSession]) -> list[int | None]:
    async with db() as session:
        return list((await session.scalars(select(Segment.lease_epoch).order_by(Segment.start))).all())


async def test_a_stale_epoch_cannot_index_and_its_file_is_quarantined(
        db: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    store = SegmentStore(tmp_path / "rec")
    index = SegmentIndex(db, SystemClock(), still_owner)
    a, b = LeaseBook(db, "node-a", LEASE_S), LeaseBook(db, "node-b", LEASE_S)
    lease_a = await a.acquire(CAMERA)
    assert lease_a is not None
    sink_a = LogOnlySink()
    writer_a = SegmentIndexer(index, StorageState(store.root), sink_a, lease_epoch=lease_a.epoch, store=store)
    assert await writer_a.add(sealed(store, 0))
    # A pauses past its lease; B takes the camera.
    await asyncio.sleep(LEASE_S + 0.2)
    lease_b = await b.acquire(CAMERA)
    assert lease_b is not None and lease_b.epoch == lease_a.epoch + 1
    assert lease_b.failed_over_from == "node-a" and lease_b.handed_over_from is None
    late = sealed(store, 1)
    assert not await writer_a.add(late)  # refused at once, not retried
    assert await epochs(db) == [lease_a.epoch]
    assert not store.absolute(late.path).exists()
    assert (store.root / QUARANTINE_DIR / Path(late.path).name).read_bytes() == b"segment 1"
    [refused] = [e for e in sink_a.events if e.kind is RecordingEventKind.SEGMENT_QUARANTINED]
    assert refused.camera == CAMERA and refused.sha256 == late.sha256 and refused.details["lease_epoch"] == lease_a.epoch
    assert [s.path for s in writer_a.fenced] == [late.path] and len(writer_a.indexed) == 1
    # The index itself says why, to any caller.
    with pytest.raises(SegmentFenced):
        await index.add(replace(sealed(store, 2), lease_epoch=lease_a.epoch))
    # The new owner indexes under its epoch; a segment without an epoch (one node, recovery) is not fenced.
    writer_b = SegmentIndexer(index, StorageState(store.root), LogOnlySink(), lease_epoch=lease_b.epoch, store=store)
    assert await writer_b.add(sealed(store, 3))
    assert await SegmentIndexer(index, StorageState(store.root), LogOnlySink()).add(sealed(store, 4))
    assert await epochs(db) == [lease_a.epoch, lease_b.epoch, None]


async def test_acquire_tells_a_failover_from_a_handover_and_a_restart(db: async_sessionmaker[AsyncSession]) -> None:
    a, b = LeaseBook(db, "node-a", 10), LeaseBook(db, "node-b", 10)
    first = await a.acquire(CAMERA)
    assert first is not None and first.previous_owner is None  # a new camera
    assert await a.release(first)
    handed = await b.acquire(CAMERA)
    assert handed is not None and handed.handed_over_from == "node-a" and handed.failed_over_from is None
    # B crashes and comes back under its id: its unexpired lease is a previous run's, taken at once
    # (a new epoch, which fences that run), and that is neither a failover nor a handover.
    assert await LeaseBook(db, "node-b", 10).acquire(CAMERA) is None
    restarted = await LeaseBook(db, "node-b", 10).acquire(CAMERA, restart=True)
    assert restarted is not None and restarted.epoch == handed.epoch + 1 and restarted.previous_owner is None
    # Another node's restart flag takes nothing of B's.
    assert await a.acquire(CAMERA, restart=True) is None
