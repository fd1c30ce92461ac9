"""Export jobs as one part of the gateway: the rows, the live hub, the runner and the keeper,
built together and run together (tidy first, then the runner and the keeper's sweeps)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from evidence.jobbook import JobBook
from evidence.jobhub import JobHub
from evidence.jobkeeper import JobKeeper
from evidence.jobrunner import JobRunner, Writer
from evidence.jobwriter import BUNDLE, BundleWriter
from policy.audit.entries import AccessRecorder
from recorder.holds import HoldStore

EXPORTS_DIR = "exports"


@dataclass
class ExportJobs:
    """What routes use (`book`, `hub`, `runner.wake`/`cancel`, `directory`) and what the gateway runs."""

    book: JobBook
    hub: JobHub
    keeper: JobKeeper
    runner: JobRunner
    #: Formats this gateway can write (`mp4` once recorder/mp4export.py is wired).
    formats: frozenset[str] = field(default_factory=lambda: frozenset({BUNDLE}))
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    #: Fail the jobs a stopped gateway left running at start. False in a worker started beside others
    #: (gateway/workerslot.py): their running jobs are not left over.
    tidy_on_start: bool = True

    @property
    def directory(self) -> Path:
        return self.keeper.directory

    async def run(self) -> None:
        """Fail what a stopped gateway left running, remove stray files, then run jobs and expire
        results until cancelled."""
        if self.tidy_on_start:
            await self.keeper.tidy()
        self.ready.set()
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.runner.run(), name="exports:runner")
            tasks.create_task(self.keeper.run(), name="exports:keeper")


def export_jobs(
    db: async_sessionmaker[AsyncSession], clock: Clock, data_dir: Path, writer: BundleWriter | Writer,
    holds: HoldStore, access_log: AccessRecorder, max_jobs: int, keep_h: float,
    known: Callable[[str], bool] = lambda _: False, tick_s: float = 1.0,
    stream_of: Callable[[str], str] = lambda _: "main",
) -> ExportJobs:
    """The parts, wired; nothing runs until `run()`."""
    book = JobBook(db, clock, keep_h)
    hub = JobHub()
    keeper = JobKeeper(book, clock, data_dir / EXPORTS_DIR, access_log, hub)
    runner = JobRunner(book, db, clock, writer, holds, access_log, hub, keeper, max_jobs, known, tick_s, stream_of)
    formats = writer.formats if isinstance(writer, BundleWriter) else frozenset({BUNDLE})
    return ExportJobs(book, hub, keeper, runner, formats)
