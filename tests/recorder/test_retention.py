"""Retention and holds on a tiny real filesystem (tmpfs mounted by the test; needs root)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.db import make_engine, make_sessionmaker
from recorder.models import Deletion
from recorder.store import SegmentStore
from recorder.verify import verify_index
from tests.recorder.helpers import recording, rows, settings_for, wait_for

MiB = 1024 * 1024


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Any]:
    """mount(size_mb) -> a fresh tmpfs of that size; unmounted at teardown."""
    mounted: list[Path] = []
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")

    def mount(size_mb: int) -> Path:
        target = tmp_path / f"fs{len(mounted)}"
        target.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(target)], check=True)
        mounted.append(target)
        return target

    yield mount
    for target in mounted:
        subprocess.run(["umount", "-l", str(target)], check=False)


async def deletions(db_url: str) -> list[Deletion]:
    engine = make_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as session:
            return list((await session.scalars(select(Deletion).order_by(Deletion.id))).all())
    finally:
        await engine.dispose()


async def verify(storage: Path, db_url: str) -> list[Any]:
    engine = make_engine(db_url)
    try:
        return await verify_index(make_sessionmaker(engine), SegmentStore(storage))
    finally:
        await engine.dispose()


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_free_space_floor_deletes_oldest_unheld_and_never_held(
    camera_server: Any, tiny_fs: Any, sqlite_url: str
) -> None:
    storage = tiny_fs(20)
    server = camera_server({"live": "snow"}, bitrate=4000)
    settings = settings_for(storage, sqlite_url, {"cam1": server.url("live")}, segment_s=2,
                            min_free_bytes=12 * MiB, retention_interval_s=1)
    async with recording(settings) as run:
        await wait_for(lambda: run.recorder.state.sealed_total >= 2, 40)
        first = run.recorder.writers["cam1"].segments[0]
        hold = await run.recorder.holds.place("cam1", first.start, first.end, "incident 42", "sup")
        await wait_for(lambda: run.recorder.state.deleted_total >= 4, 90)
        await asyncio.sleep(2)
    segs, _ = await rows(sqlite_url)
    gone = await deletions(sqlite_url)
    # All younger than the retention floor (30 days): only the free-space floor may take them, and says so.
    assert gone and all(d.reason == "free_space_under_retention_floor" for d in gone)
    assert first.sha256 in {s.sha256 for s in segs}, "the held segment was deleted"
    assert first.sha256 not in {d.sha256 for d in gone}
    # Oldest first: every deleted segment is older than every unheld one that remains.
    unheld = [s for s in segs if s.sha256 != first.sha256]
    assert max(d.start for d in gone) < min(s.start for s in unheld)
    assert [d.start for d in gone] == sorted(d.start for d in gone)
    for d in gone:
        assert len(d.sha256) == 64 and not (storage / d.path).exists()
    assert {e.sha256 for e in run.sink.events if e.kind == "segment_deleted"} == {d.sha256 for d in gone}
    assert any(e.kind == "hold_placed" and e.details["hold_id"] == hold.id for e in run.sink.events)
    assert await verify(storage, sqlite_url) == []


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_full_disk_with_everything_held_stops_alarms_and_resumes(
    camera_server: Any, tiny_fs: Any, sqlite_url: str
) -> None:
    storage = tiny_fs(12)
    server = camera_server({"live": "snow"}, bitrate=4000)
    settings = settings_for(storage, sqlite_url, {"cam1": server.url("live")}, segment_s=2,
                            min_free_bytes=7 * MiB, retention_interval_s=1)
    async with recording(settings) as run:
        recorder = run.recorder
        now = recorder.clock.now()
        hold = await recorder.holds.place("cam1", now - timedelta(hours=1), now + timedelta(hours=1),
                                          "everything", "sup")
        await wait_for(lambda: recorder.storage_problem is not None, 90)
        status = recorder.storage_status()
        assert status.state == "full" and status.problem
        sealed_at_full = recorder.state.sealed_total
        await asyncio.sleep(3)
        # Stopped: nothing new is sealed while full, and nothing was deleted.
        assert recorder.state.sealed_total == sealed_at_full
        assert await deletions(sqlite_url) == []
        assert await verify(storage, sqlite_url) == []
        await recorder.holds.release(hold.id, "sup2", "case closed")
        t0 = time.monotonic()
        await wait_for(lambda: recorder.storage_problem is None, 30)
        await wait_for(lambda: recorder.state.sealed_total > sealed_at_full + 1, 30)
        resumed_after = time.monotonic() - t0
    segs, gaps = await rows(sqlite_url)
    assert any(g.reason == "storage full" and g.end is not None for g in gaps), gaps
    kinds = [e.kind for e in run.sink.events]
    assert "storage_full" in kinds and "storage_resumed" in kinds and "hold_released" in kinds
    assert await deletions(sqlite_url)
    assert resumed_after < 30
    assert await verify(storage, sqlite_url) == []


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_no_setting_deletes_under_the_retention_floor(camera_server: Any, tmp_path: Path, sqlite_url: str) -> None:
    """A retention of a second and a budget of one byte delete nothing younger than
    recording.min_retention_days; with the floor at 0 the same budget deletes at once."""
    server = camera_server({"live": "ball"})
    storage = tmp_path / "rec"
    settings = settings_for(storage, sqlite_url, {"cam1": server.url("live")}, segment_s=2, min_free_bytes=0,
                            retention_days=0.00001, max_bytes=1, retention_interval_s=1)
    async with recording(settings) as run:
        await wait_for(lambda: run.recorder.state.sealed_total >= 3, 40)
        await asyncio.sleep(2.5)  # two more retention passes
    assert await deletions(sqlite_url) == []
    floorless = settings.model_copy(update={"recording": settings.recording.model_copy(
        update={"min_retention_days": 0.0})})
    async with recording(floorless) as run:
        await wait_for(lambda: run.recorder.state.deleted_total >= 3, 40)
    assert {d.reason for d in await deletions(sqlite_url)} <= {"age", "budget"}


async def test_shortening_a_retention_never_reaches_back(tmp_path: Path, sqlite_url: str) -> None:
    """A segment is kept as long as the retention in force when it was recorded: a shorter one
    (config or API) applies to what is recorded after, and every retention in force is on record."""
    from datetime import UTC, datetime

    from core.clock import ManualClock
    from core.config import RecordingConfig
    from core.db import make_engine, make_sessionmaker
    from recorder.models import RetentionPeriod, Segment
    from recorder.reports import LogOnlySink
    from recorder.retention import Retention
    from recorder.status import StorageState
    from recorder.store import SegmentStore

    now = datetime(2026, 12, 1, tzinfo=UTC)
    clock = ManualClock(now)
    engine = make_engine(sqlite_url)
    db = make_sessionmaker(engine)

    async def add(name: str, ended_days_ago: float) -> None:
        end = clock.now() - timedelta(days=ended_days_ago)
        async with db() as session:
            session.add(Segment(camera_id="gate", start=end - timedelta(minutes=1), end=end, path=f"gate/{name}.mp4",
                                bytes=1, sha256=name.ljust(64, "0"), status="sealed", codec="h264", width=1,
                                height=1, drift_ms=0.0, timestamps="{}", sealed_at=end, stream="main"))
            await session.commit()

    async def kept() -> set[str]:
        async with db() as session:
            return {p.rsplit("/", 1)[1][:-4] for p in (await session.scalars(select(Segment.path))).all()}

    (tmp_path / "rec").mkdir()
    try:
        for name, age in (("a40", 40), ("b20", 20), ("c5", 5)):
            await add(name, age)
        config = RecordingConfig(retention_days=30, min_retention_days=0, min_free_bytes=0)
        retention = Retention(db, SegmentStore(tmp_path / "rec"), StorageState(tmp_path / "rec"), clock, config, {},
                              LogOnlySink())
        await retention.run_once()
        assert await kept() == {"b20", "c5"}
        retention.set_camera_days("gate", 10)  # shortened: b20 and c5 were recorded under 30 days
        await retention.run_once()
        assert await kept() == {"b20", "c5"}
        clock.advance(86400)
        await add("d0", 0)  # recorded under 10 days
        clock.advance(11 * 86400)
        await retention.run_once()
        # d0 (11 days old) went under its 10; b20 (32) under its 30; c5 (17) stays under its 30.
        assert await kept() == {"c5"}
        async with db() as session:
            periods = (await session.scalars(select(RetentionPeriod).order_by(RetentionPeriod.id))).all()
        assert [p.days for p in periods] == [30, 10]
    finally:
        await engine.dispose()


async def test_nodes_sharing_an_index_delete_only_what_is_on_their_disk_and_each_segment_once(
    tmp_path: Path, pg_url: str, caplog: pytest.LogCaptureFixture,
) -> None:
    """Several nodes, one index: a node's retention leaves a segment whose file is on another node's
    disk to that node (it used to delete the row and leave the file behind for good); nodes on one
    shared disk racing over the same segments delete each once, with one Deletion row and no error."""
    from datetime import UTC, datetime

    from core.clock import ManualClock
    from core.config import RecordingConfig
    from recorder.models import Segment
    from recorder.reports import LogOnlySink
    from recorder.retention import Retention
    from recorder.status import StorageState

    clock = ManualClock(datetime(2026, 12, 1, tzinfo=UTC))
    engine = make_engine(pg_url)
    db = make_sessionmaker(engine)
    config = RecordingConfig(retention_days=30, min_retention_days=0, min_free_bytes=0)

    async def add(disk: Path, name: str) -> None:
        end = clock.now() - timedelta(days=40)
        (disk / "gate").mkdir(parents=True, exist_ok=True)
        (disk / "gate" / f"{name}.mp4").write_bytes(b"x")
        async with db() as session:
            session.add(Segment(camera_id="gate", start=end - timedelta(minutes=1), end=end, path=f"gate/{name}.mp4",
                                bytes=1, sha256=sha(name), status="sealed", codec="h264", width=1,
                                height=1, drift_ms=0.0, timestamps="{}", sealed_at=end, stream="main"))
            await session.commit()

    def sha(name: str) -> str:
        return name.encode().hex().ljust(64, "0")

    def node(disk: Path) -> Retention:
        return Retention(db, SegmentStore(disk), StorageState(disk), clock, config, {}, LogOnlySink(),
                         shared_index=True)

    async def left() -> set[str]:
        async with db() as session:
            return set((await session.scalars(select(Segment.path))).all())

    disk_a, disk_b, shared = tmp_path / "a", tmp_path / "b", tmp_path / "shared"
    for disk in (disk_a, disk_b, shared):
        disk.mkdir()
    try:
        await add(disk_a, "on-a")
        await add(disk_b, "on-b")
        assert [d.sha256 for d in await node(disk_b).run_once()] == [sha("on-b")]
        assert await left() == {"gate/on-a.mp4"}  # A's file is A's to delete
        assert (disk_a / "gate" / "on-a.mp4").exists()
        assert [d.sha256 for d in await node(disk_a).run_once()] == [sha("on-a")]
        assert not (disk_a / "gate" / "on-a.mp4").exists()

        names = [f"s{n:02d}" for n in range(12)]
        for name in names:
            await add(shared, name)
        caplog.clear()
        first, second = await asyncio.gather(node(shared).run_once(), node(shared).run_once())
        assert sorted(d.sha256 for d in first + second) == sorted(sha(n) for n in names)
        assert await left() == set()
        gone = [d.path for d in await deletions(pg_url)]
        assert sorted(gone) == sorted(["gate/on-a.mp4", "gate/on-b.mp4"] + [f"gate/{n}.mp4" for n in names])
        assert not [r for r in caplog.records if r.levelno >= 40], [r.getMessage() for r in caplog.records]
    finally:
        await engine.dispose()
