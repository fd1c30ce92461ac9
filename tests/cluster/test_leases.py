"""Camera leases and fencing on a real PostgreSQL: one owner per camera under contention, expiry
and takeover with epoch + 1, the lost renewal, and a stale epoch's segment insert refused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cluster.fencing import fence, still_owner
from cluster.leases import Lease, LeaseBook, LeaseLost
from core.db import make_engine, make_sessionmaker
from recorder.models import Segment

CAMERAS = [f"cam-{n:02d}" for n in range(12)]
#: Short leases so the test waits one out; the config's floor (2 s) is for real networks.
LEASE_S = 1.0


def segment(camera: str, epoch: int, n: int) -> Segment:
    start = datetime(2026, 12, 5, 6, 0, tzinfo=UTC) + timedelta(minutes=n)
    return Segment(
        camera_id=camera, start=start, end=start + timedelta(minutes=1), path=f"{camera}/{n}.mp4", bytes=1,
        sha256=f"{n:064x}", prev_sha256=None, status="sealed", codec="h264", width=640, height=480,
        drift_ms=0.0, timestamps="{}", sealed_at=start, stream="main", lease_epoch=epoch,
    )


async def fenced_insert(db: async_sessionmaker[AsyncSession], lease: Lease, n: int) -> None:
    """What the recorder's index will do under a lease: check the epoch and insert in one transaction."""
    async with db() as session, session.begin():
        await fence(session, lease.camera, lease.epoch)
        session.add(segment(lease.camera, lease.epoch, n))


async def indexed(db: async_sessionmaker[AsyncSession], camera: str) -> list[int | None]:
    async with db() as session:
        return list((await session.scalars(
            select(Segment.lease_epoch).where(Segment.camera_id == camera).order_by(Segment.id))).all())


async def test_two_nodes_contending_for_twelve_cameras_own_each_exactly_once(
        db: async_sessionmaker[AsyncSession]) -> None:
    a, b = LeaseBook(db, "node-a", 10), LeaseBook(db, "node-b", 10)
    # Both ask for every camera at once, interleaved, several times over.
    results = await asyncio.gather(*(book.acquire(cam) for cam in CAMERAS for book in (a, b) for _ in range(2)))
    won = [lease for lease in results if lease is not None]
    assert sorted(lease.camera for lease in won) == CAMERAS  # one win per camera, no double
    assert {lease.epoch for lease in won} == {1}
    owned_a, owned_b = {x.camera for x in await a.owned()}, {x.camera for x in await b.owned()}
    assert owned_a | owned_b == set(CAMERAS) and not owned_a & owned_b
    # A held lease is not taken again, not even by its holder.
    assert await a.acquire(CAMERAS[0]) is None and await b.acquire(CAMERAS[0]) is None


async def test_a_node_that_stops_renewing_loses_its_cameras_to_the_next_epoch(
        db: async_sessionmaker[AsyncSession]) -> None:
    a, b = LeaseBook(db, "node-a", LEASE_S), LeaseBook(db, "node-b", LEASE_S)
    camera = CAMERAS[0]
    lease_a = await a.acquire(camera)
    assert lease_a is not None and lease_a.epoch == 1
    await fenced_insert(db, lease_a, 0)
    lease_a = await a.renew(lease_a)  # still A's
    assert await b.acquire(camera) is None
    # A stops renewing (paused, cut off): within the lease B cannot take it, after it B can.
    await asyncio.sleep(LEASE_S + 0.2)
    lease_b = await b.acquire(camera)
    assert lease_b is not None and lease_b.epoch == lease_a.epoch + 1
    # A resumes: its renewal reports the loss, its fencing check fails, its insert is refused.
    with pytest.raises(LeaseLost):
        await a.renew(lease_a)
    async with db() as session, session.begin():
        assert not await still_owner(session, camera, lease_a.epoch)
        assert await still_owner(session, camera, lease_b.epoch)
    with pytest.raises(LeaseLost):
        await fenced_insert(db, lease_a, 1)
    await fenced_insert(db, lease_b, 2)
    assert await indexed(db, camera) == [1, 2]
    assert await a.owned() == [] and [x.camera for x in await b.owned()] == [camera]
    assert not await a.release(lease_a)


async def test_an_expired_lease_nobody_took_is_still_lost_to_its_owner(
        db: async_sessionmaker[AsyncSession]) -> None:
    a = LeaseBook(db, "node-a", LEASE_S)
    lease = await a.acquire(CAMERAS[0])
    assert lease is not None
    await asyncio.sleep(LEASE_S + 0.2)
    with pytest.raises(LeaseLost):
        await a.renew(lease)
    with pytest.raises(LeaseLost):
        await fenced_insert(db, lease, 0)
    again = await a.acquire(CAMERAS[0])
    assert again is not None and again.epoch == 2


async def test_a_released_lease_is_free_at_once_and_its_epoch_keeps_growing(
        db: async_sessionmaker[AsyncSession]) -> None:
    a, b = LeaseBook(db, "node-a", 10), LeaseBook(db, "node-b", 10)
    lease_a = await a.acquire(CAMERAS[0])
    assert lease_a is not None
    assert await a.release(lease_a)
    lease_b = await b.acquire(CAMERAS[0])
    assert lease_b is not None and lease_b.epoch == 2
    async with db() as session:
        assert not await still_owner(session, CAMERAS[0], lease_a.epoch)


async def test_a_write_in_progress_holds_off_the_next_owner_until_it_commits(
        db: async_sessionmaker[AsyncSession]) -> None:
    a, b = LeaseBook(db, "node-a", LEASE_S), LeaseBook(db, "node-b", LEASE_S)
    lease_a = await a.acquire(CAMERAS[0])
    assert lease_a is not None
    async with db() as session, session.begin():
        await fence(session, lease_a.camera, lease_a.epoch)  # checked and locked while valid
        await asyncio.sleep(LEASE_S + 0.2)  # the lease runs out while the write is under way
        takeover = asyncio.create_task(b.acquire(CAMERAS[0]))
        done, _ = await asyncio.wait({takeover}, timeout=0.5)
        assert not done, "B took the camera while A's checked write was still open"
        session.add(segment(lease_a.camera, lease_a.epoch, 0))
    lease_b = await takeover
    assert lease_b is not None and lease_b.epoch == 2
    assert await indexed(db, CAMERAS[0]) == [1]


async def test_leases_refuse_sqlite(tmp_path: object) -> None:
    from pathlib import Path

    from cluster.dbclock import ClusterUnsupported
    from gateway.migrations import upgrade

    url = f"sqlite+aiosqlite:///{Path(str(tmp_path)) / 'p.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    try:
        with pytest.raises(ClusterUnsupported):
            await LeaseBook(make_sessionmaker(engine), "node-a", 10).acquire("cam")
        async with make_sessionmaker(engine)() as session:
            assert await session.scalar(select(func.count()).select_from(Segment)) == 0
    finally:
        await engine.dispose()
