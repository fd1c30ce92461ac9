"""The export_jobs rows: create, read, list, cancel, and every step of a job's life, each one
conditional UPDATE so that a cancel and the runner never overwrite each other's state."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.errors import Conflict, NotFound
from evidence.models import ExportJob, JobState

FINISHED = frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED})
INTERRUPTED = "the gateway stopped while it ran"


@dataclass(frozen=True, slots=True)
class JobOrder:
    """What a caller asked for, with who asked (a signed-in user, or a disposition's grantee)."""

    cameras: tuple[str, ...]
    start: datetime
    end: datetime
    formats: tuple[str, ...]
    reason: str
    requested_by: str
    via: str  # user | token
    client: str = ""
    requester_role: str | None = None
    case_id: str | None = None
    request_id: str | None = None
    token_id: str | None = None
    #: The decision lets the copy carry the recorded sound (False: the policy's no_audio).
    audio: bool = True


@dataclass(frozen=True, slots=True)
class JobResult:
    """A finished zip as the row keeps it."""

    name: str
    size: int
    sha256: str
    manifest_sha256: str
    log_seq: int


class JobBook:
    """Reads and writes export_jobs."""

    def __init__(self, db: async_sessionmaker[AsyncSession], clock: Clock, keep_h: float) -> None:
        self._db = db
        self._clock = clock
        self._keep = timedelta(hours=keep_h)

    async def create(self, order: JobOrder) -> ExportJob:
        """A new queued job."""
        job = ExportJob(
            id="exp_" + uuid.uuid4().hex, state=JobState.QUEUED.value, cameras=",".join(order.cameras),
            window_start=order.start, window_end=order.end, formats=",".join(order.formats), audio=order.audio,
            reason=order.reason,
            case_id=order.case_id, request_id=order.request_id, token_id=order.token_id,
            requested_by=order.requested_by, requester_role=order.requester_role, via=order.via,
            client=order.client[:64], created_at=self._clock.now(), bytes_total=0, bytes_done=0, segments_total=0,
            segments_done=0, cancel_requested=False, error="", downloads=0,
        )
        async with self._db() as session:
            session.add(job)
            await session.commit()
        return job

    async def get(self, job_id: str) -> ExportJob | None:
        async with self._db() as session:
            return await session.get(ExportJob, job_id)

    async def require(self, job_id: str) -> ExportJob:
        """The job, or 404."""
        job = await self.get(job_id)
        if job is None:
            raise NotFound(f"no export job {job_id!r}")
        return job

    async def listing(
        self, *, state: JobState | None = None, requested_by: str | None = None, token_id: str | None = None,
        limit: int = 100,
    ) -> list[ExportJob]:
        """Newest first, narrowed as asked."""
        query = select(ExportJob)
        if state is not None:
            query = query.where(ExportJob.state == state.value)
        if requested_by is not None:
            query = query.where(ExportJob.requested_by == requested_by, ExportJob.via == "user")
        if token_id is not None:
            query = query.where(ExportJob.token_id == token_id, ExportJob.via == "token")
        query = query.order_by(ExportJob.created_at.desc(), ExportJob.id.desc()).limit(limit)
        async with self._db() as session:
            return list((await session.scalars(query)).all())

    async def queued(self) -> list[ExportJob]:
        """Jobs waiting to run, oldest first."""
        query = select(ExportJob).where(ExportJob.state == JobState.QUEUED.value)
        async with self._db() as session:
            return list((await session.scalars(query.order_by(ExportJob.created_at, ExportJob.id))).all())

    async def request_cancel(self, job_id: str) -> tuple[ExportJob, bool]:
        """Mark a job to be cancelled; a queued one is cancelled at once (True). 409 when it has finished."""
        now = self._clock.now()
        async with self._db() as session, session.begin():
            await session.execute(update(ExportJob).where(
                ExportJob.id == job_id, ExportJob.state.in_([JobState.QUEUED.value, JobState.RUNNING.value]),
            ).values(cancel_requested=True))
            stopped = await session.execute(update(ExportJob).where(
                ExportJob.id == job_id, ExportJob.state == JobState.QUEUED.value,
            ).values(state=JobState.CANCELLED.value, finished_at=now, error="cancelled before it started"))
        job = await self.require(job_id)
        if job.state != JobState.RUNNING.value and not stopped.rowcount:  # type: ignore[attr-defined]
            raise Conflict(f"export job {job_id} has finished ({job.state}); there is nothing to cancel")
        return job, bool(stopped.rowcount)  # type: ignore[attr-defined]

    async def start(self, job_id: str) -> bool:
        """queued -> running; False when it is no longer queued (cancelled meanwhile)."""
        return await self._move(job_id, (JobState.QUEUED,), state=JobState.RUNNING.value, started_at=self._clock.now())

    async def totals(self, job_id: str, nbytes: int, segments: int) -> None:
        await self._move(job_id, (JobState.RUNNING,), bytes_total=nbytes, segments_total=segments)

    async def progress(self, job_id: str, nbytes: int, segments: int) -> None:
        await self._move(job_id, (JobState.RUNNING,), bytes_done=nbytes, segments_done=segments)

    async def finish(self, job_id: str, result: JobResult) -> bool:
        now = self._clock.now()
        return await self._move(
            job_id, (JobState.RUNNING,), state=JobState.DONE.value, finished_at=now, expires_at=now + self._keep,
            result_name=result.name, result_size=result.size, result_sha256=result.sha256,
            manifest_sha256=result.manifest_sha256, log_seq=result.log_seq,
        )

    async def fail(self, job_id: str, error: str, states: Sequence[JobState] = (JobState.RUNNING,)) -> bool:
        return await self._move(job_id, states, state=JobState.FAILED.value, finished_at=self._clock.now(),
                                 error=error[:2000])

    async def cancelled(self, job_id: str) -> bool:
        return await self._move(job_id, (JobState.RUNNING,), state=JobState.CANCELLED.value,
                                finished_at=self._clock.now(), error="cancelled while it ran")

    async def interrupted(self) -> list[ExportJob]:
        """Jobs left running by a gateway that stopped: now failed, and returned."""
        async with self._db() as session:
            jobs = list((await session.scalars(
                select(ExportJob).where(ExportJob.state == JobState.RUNNING.value))).all())
        return [job for job in jobs if await self.fail(job.id, INTERRUPTED)]

    async def due(self, now: datetime) -> list[ExportJob]:
        """Done jobs whose result is past its keep time."""
        query = select(ExportJob).where(ExportJob.state == JobState.DONE.value, ExportJob.expires_at <= now)
        async with self._db() as session:
            return list((await session.scalars(query.order_by(ExportJob.expires_at))).all())

    async def expire(self, job_id: str) -> bool:
        return await self._move(job_id, (JobState.DONE,), state=JobState.EXPIRED.value, deleted_at=self._clock.now())

    async def downloaded(self, job_id: str) -> None:
        async with self._db() as session, session.begin():
            await session.execute(update(ExportJob).where(ExportJob.id == job_id)
                                  .values(downloads=ExportJob.downloads + 1))

    async def kept_files(self) -> set[str]:
        """The result names of done jobs: the only files data_dir/exports may hold between jobs."""
        query = select(ExportJob.result_name).where(ExportJob.state == JobState.DONE.value)
        async with self._db() as session:
            return {name for name in (await session.scalars(query)).all() if name}

    async def _move(self, job_id: str, states: Sequence[JobState], **values: Any) -> bool:
        async with self._db() as session, session.begin():
            result = await session.execute(update(ExportJob).where(
                ExportJob.id == job_id, ExportJob.state.in_([s.value for s in states])).values(**values))
        return bool(result.rowcount)  # type: ignore[attr-defined]
