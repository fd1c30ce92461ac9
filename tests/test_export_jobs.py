"""Export jobs without an HTTP client where HTTP adds nothing: the copy stopping at a cancel, the
keeper's retention on a manual clock, and a gateway starting over a job a stopped gateway left
running (with its partial file and a stray file), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import ManualClock
from core.db import make_engine, make_sessionmaker
from evidence.jobbook import INTERRUPTED, JobBook, JobOrder, JobResult
from evidence.jobhub import JobHub
from evidence.jobkeeper import JobKeeper
from evidence.models import ExportJob, JobState
from gateway.migrations import upgrade
from policy.audit.entries import AccessAction, AccessEvent
from recorder.bundle import CHUNK, BundleCancelled, CameraPlan, copy_segments
from recorder.models import Segment
from recorder.store import SegmentStore
from tests.gatewayutil import make_settings, running_gateway, until

pytestmark = pytest.mark.timeout(60)
T0 = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)


class Collected:
    """An AccessRecorder that keeps what it is given."""

    def __init__(self) -> None:
        self.events: list[AccessEvent] = []

    async def record(self, event: AccessEvent) -> None:
        self.events.append(event)

    def of(self, action: AccessAction) -> list[AccessEvent]:
        return [e for e in self.events if e.action is action]


def order(**extra: object) -> JobOrder:
    return JobOrder(**{"cameras": ("north",), "start": T0, "end": T0 + timedelta(minutes=1), "formats": ("bundle",),
                       "reason": "police request", "requested_by": "sup", "via": "user", "requester_role": "supervisor",
                       **extra})  # type: ignore[arg-type]


@pytest_asyncio.fixture
async def db(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await asyncio.to_thread(upgrade, db_url)
    engine = make_engine(db_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


def test_copying_stops_at_the_next_block_once_cancelled(tmp_path: Path) -> None:
    store = SegmentStore(tmp_path / "rec")
    segments = []
    for i in range(3):
        data = os.urandom(2 * CHUNK + 100)
        path = f"north/{i}.mp4"
        store.absolute(path).parent.mkdir(parents=True, exist_ok=True)
        store.absolute(path).write_bytes(data)
        segments.append(Segment(camera_id="north", path=path, start=T0 + timedelta(seconds=2 * i),
                                end=T0 + timedelta(seconds=2 * i + 2), bytes=len(data),
                                sha256=hashlib.sha256(data).hexdigest()))
    stop = threading.Event()
    copied: list[int] = []
    done: list[Segment] = []

    def advance(n: int) -> None:
        copied.append(n)
        if sum(copied) > 3 * CHUNK:  # into the second segment: someone presses cancel
            stop.set()

    with zipfile.ZipFile(tmp_path / "out.zip", "w") as zf, pytest.raises(BundleCancelled):
        copy_segments(zf, store, [CameraPlan("north", tuple(segments), ())], advance, stop.is_set, done.append)
    assert done == [segments[0]]
    assert sum(copied) == 3 * CHUNK + 100  # the first segment and one block: not one block after the cancel


async def test_results_expire_after_the_keep_time_deleted_and_logged(
    db: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    clock = ManualClock(T0 + timedelta(hours=1))
    book, hub, log = JobBook(db, clock, keep_h=2), JobHub(), Collected()
    keeper = JobKeeper(book, clock, tmp_path / "exports", log, hub)
    await keeper.tidy()
    job = await book.create(order())
    assert await book.start(job.id)
    (tmp_path / "exports" / f"{job.id}.zip").write_bytes(b"zip")
    assert await book.finish(job.id, JobResult(f"{job.id}.zip", 3, "a" * 64, "b" * 64, 7))
    with hub.listen(lambda _job: True) as listener:
        clock.advance(2 * 3600 - 1)
        assert await keeper.sweep() == []
        clock.advance(1)
        assert await keeper.sweep() == [job.id]
        published = listener.queue.get_nowait()
    assert published is not None and published.state == JobState.EXPIRED.value
    assert not (tmp_path / "exports" / f"{job.id}.zip").exists()
    row = await book.require(job.id)
    assert row.state == JobState.EXPIRED.value and row.deleted_at == clock.now()
    [entry] = log.of(AccessAction.EXPORT_JOB_EXPIRED)
    assert entry.details["job_id"] == job.id and entry.details["bytes"] == 3
    assert await keeper.sweep() == []  # once


async def test_cancel_of_a_finished_job_is_a_conflict_and_a_queued_one_stops_at_once(
    db: async_sessionmaker[AsyncSession]
) -> None:
    book = JobBook(db, ManualClock(T0), keep_h=1)
    queued = await book.create(order())
    job, stopped = await book.request_cancel(queued.id)
    assert stopped and job.state == JobState.CANCELLED.value and job.cancel_requested
    assert not await book.start(queued.id)  # the runner can no longer take it
    running = await book.create(order())
    assert await book.start(running.id)
    job, stopped = await book.request_cancel(running.id)
    assert not stopped and job.state == JobState.RUNNING.value and job.cancel_requested
    assert await book.cancelled(running.id)
    with pytest.raises(Exception, match="has finished"):
        await book.request_cancel(running.id)


async def test_a_gateway_starting_fails_interrupted_jobs_and_removes_stray_files(db_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, db_url)
    await asyncio.to_thread(upgrade, db_url)
    engine = make_engine(db_url)
    try:
        book = JobBook(make_sessionmaker(engine), ManualClock(T0), keep_h=1000 * 24)
        left = await book.create(order())
        assert await book.start(left.id)
        kept = await book.create(order())
        assert await book.start(kept.id)
        assert await book.finish(kept.id, JobResult(f"{kept.id}.zip", 3, "a" * 64, "b" * 64, 1))
        again = await book.create(order(cameras=("nowhere",)))
        async with make_sessionmaker(engine)() as session, session.begin():
            # Kept far into the future, whatever the real clock says.
            await session.execute(update(ExportJob).where(ExportJob.id == kept.id)
                                  .values(expires_at=datetime.now(UTC) + timedelta(days=30)))
    finally:
        await engine.dispose()
    exports = settings.data_dir / "exports"
    exports.mkdir(parents=True)
    (exports / f".{left.id}.zip.partial").write_bytes(b"half a zip")
    (exports / "stray.zip").write_bytes(b"nobody's")
    (exports / f"{kept.id}.zip").write_bytes(b"zip")
    async with running_gateway(settings) as client:
        services = client.gateway.services
        assert services is not None
        await asyncio.wait_for(services.exports.ready.wait(), 10)
        failed = await services.exports.book.require(left.id)
        assert failed.state == JobState.FAILED.value and failed.error == INTERRUPTED
        assert sorted(p.name for p in exports.iterdir()) == [f"{kept.id}.zip"]
        # A job still queued runs again (and fails: no such camera, nothing recorded).
        rerun = await until(lambda: _finished(services.exports.book, again.id), 15, "the queued job ran")
        assert rerun.state == JobState.FAILED.value and "nowhere" in rerun.error
        admin = await client.sign_in("admin", client.admin_password())
        body = await client.get_json("/api/v1/access-log?action=export_file_removed&limit=100", admin)
        removed = sorted(e["payload"]["details"]["file"] for e in body["entries"])
        assert removed == sorted([f".{left.id}.zip.partial", "stray.zip"])
        body = await client.get_json("/api/v1/access-log?action=export_job_failed&limit=100", admin)
        reasons = {e["payload"]["details"]["job_id"]: e["payload"]["reason"] for e in body["entries"]}
        assert reasons[left.id] == INTERRUPTED and again.id in reasons


async def _finished(book: JobBook, job_id: str) -> ExportJob | None:
    job = await book.require(job_id)
    return job if job.state not in (JobState.QUEUED.value, JobState.RUNNING.value) else None
