"""Runs export jobs in the order they were queued, at most `recording.max_exports` at once.

Each job: its binding read (jobbinding.py), the window planned, evidence holds placed on it (named
after the job), then the zip written (jobwriter.py) under a temporary name in data_dir/exports,
with progress written to the row and published at most once per `tick_s`. A cancel stops the
copy at its next block; the partial file is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.errors import PantauError
from evidence.jobbinding import binding_of
from evidence.jobbook import INTERRUPTED, JobBook, JobResult
from evidence.jobhub import JobHub
from evidence.jobkeeper import JobKeeper
from evidence.jobwriter import BundleOrder, BundleWriter, Counter, Written, planned_work
from evidence.models import ExportJob
from policy.audit.entries import AccessAction, AccessEvent, AccessRecorder
from recorder.bundle import BundleCancelled, CameraPlan, plan_bundle
from recorder.holds import HoldStore

log = logging.getLogger(__name__)

TICK_S = 1.0

# What writes one job's zip; the runner hands it the job's plans and order (a seam for tests).
Writer = Callable[[Sequence[CameraPlan], BundleOrder, Path, Path, Counter, Callable[[], bool]], Awaitable[Written]]


class JobRunner:
    """The background runner; `run()` is owned by the gateway's task group."""

    def __init__(
        self, book: JobBook, db: async_sessionmaker[AsyncSession], clock: Clock, writer: BundleWriter | Writer,
        holds: HoldStore, access_log: AccessRecorder, hub: JobHub, keeper: JobKeeper, max_jobs: int,
        known: Callable[[str], bool] = lambda _: False, tick_s: float = TICK_S,
        stream_of: Callable[[str], str] = lambda _: "main",
    ) -> None:
        self._book = book
        self._db = db
        self._clock = clock
        #: Writes one zip; replaceable (tests hold a job in `running` by wrapping it).
        self.write: Writer = writer.write if isinstance(writer, BundleWriter) else writer
        self._holds = holds
        self._log = access_log
        self._hub = hub
        self._keeper = keeper
        self.max_jobs = max_jobs
        self._known = known
        #: Which of a camera's streams a bundle copies (the main one unless it records only its sub).
        self._stream_of = stream_of
        self._tick_s = tick_s
        self._wake = asyncio.Event()
        #: Running jobs and the flag that stops each (read from the copying thread).
        self._running: dict[str, threading.Event] = {}

    @property
    def running(self) -> frozenset[str]:
        return frozenset(self._running)

    def wake(self) -> None:
        """A job was queued, or a slot may be free: look at the queue."""
        self._wake.set()

    def cancel(self, job_id: str) -> None:
        """Stop a running job at its next block (the row's cancel_requested is set by the book)."""
        flag = self._running.get(job_id)
        if flag is not None:
            flag.set()

    async def run(self) -> None:
        """Run queued jobs until cancelled (the keeper has tidied up first: ExportJobs.run)."""
        self._wake.set()
        try:
            async with asyncio.TaskGroup() as jobs:
                while True:
                    await self._wake.wait()
                    self._wake.clear()
                    for job in await self._book.queued():
                        if len(self._running) >= self.max_jobs:
                            break
                        if job.id in self._running or not await self._book.start(job.id):
                            continue
                        self._running[job.id] = threading.Event()
                        jobs.create_task(self._run_one(job.id), name=f"export:{job.id}")
        finally:
            self._hub.close()

    async def _publish(self, job_id: str) -> ExportJob | None:
        job = await self._book.get(job_id)
        if job is not None:
            self._hub.publish(job)
        return job

    async def _run_one(self, job_id: str) -> None:
        flag = self._running[job_id]
        counter = Counter()
        tmp = self._keeper.directory / f".{job_id}.zip.partial"
        try:
            job = await self._publish(job_id)
            assert job is not None
            if job.cancel_requested:
                flag.set()
            await self._run(job, counter, tmp, flag)
        except asyncio.CancelledError:
            flag.set()  # the copying thread stops at its next block
            with contextlib.suppress(Exception):
                await asyncio.shield(self._book.fail(job_id, INTERRUPTED))
            raise
        except BundleCancelled:
            await self._book.progress(job_id, counter.bytes_done, counter.segments_done)
            await self._book.cancelled(job_id)
            log.info("export job %s cancelled after %d bytes; its partial file is deleted", job_id,
                     counter.bytes_done)
        except Exception as exc:
            detail = exc.detail if isinstance(exc, PantauError) else f"internal error: {type(exc).__name__}"
            if not isinstance(exc, PantauError):
                log.exception("export job %s failed", job_id)
            await self._book.fail(job_id, detail)
            job = await self._book.get(job_id)
            await self._log.record(AccessEvent(
                AccessAction.EXPORT_JOB_FAILED, actor="system", outcome="error", reason=detail,
                start=job.window_start if job else None, end=job.window_end if job else None,
                request_id=job.request_id if job else None, token_id=job.token_id if job else None,
                details={"job_id": job_id, "requested_by": job.requested_by if job else None}))
        finally:
            await asyncio.shield(asyncio.to_thread(tmp.unlink, True))
            self._running.pop(job_id, None)
            self._wake.set()
        await self._publish(job_id)

    async def _run(self, job: ExportJob, counter: Counter, tmp: Path, flag: threading.Event) -> None:
        cameras = tuple(job.cameras.split(","))
        binding = await binding_of(self._db, job)
        plans = await plan_bundle(self._db, self._clock, cameras, job.window_start, job.window_end, self._known,
                                  self._stream_of)
        formats = tuple(job.formats.split(","))
        await self._book.totals(job.id, *planned_work(plans, formats))
        await self._publish(job.id)
        # Before copying, as the CLI does: retention must not delete an original being exported.
        why = f"export job {job.id}{' (' + job.case_id + ')' if job.case_id else ''}: {job.reason}"
        for camera in cameras:
            await self._holds.place(camera, job.window_start, job.window_end, why, job.requested_by)
        order = BundleOrder(cameras, job.window_start, job.window_end, job.reason, job.case_id or "",
                            f"{job.id}.zip", binding, formats, job.audio)
        ticker = asyncio.create_task(self._tick(job.id, counter))
        try:
            written = await self.write(plans, order, self._keeper.directory / order.name, tmp, counter, flag.is_set)
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        await self._book.progress(job.id, counter.bytes_done, counter.segments_done)
        result = JobResult(order.name, written.size, written.sha256, written.manifest_sha256, written.proof.entry.seq)
        if not await self._book.finish(job.id, result):
            # Failed meanwhile (cannot happen while we own the row, but never keep an unnamed file).
            await asyncio.to_thread((self._keeper.directory / order.name).unlink, True)

    async def _tick(self, job_id: str, counter: Counter) -> None:
        """Progress to the row and the listeners, at most once per tick."""
        last = (-1, -1)
        while True:
            await asyncio.sleep(self._tick_s)
            now = (counter.bytes_done, counter.segments_done)
            if now != last:
                last = now
                await self._book.progress(job_id, *now)
                await self._publish(job_id)
