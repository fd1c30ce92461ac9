"""The files in data_dir/exports: finished zips are kept `recording.export_keep_h` hours, then
deleted and their job marked expired; at start, jobs a stopped gateway left running are failed,
and every file that no done job names (partials, orphans) is deleted. Each deletion is logged."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from core.clock import Clock
from evidence.jobbook import INTERRUPTED, JobBook
from evidence.jobhub import JobHub
from policy.audit.entries import AccessAction, AccessEvent, AccessRecorder

log = logging.getLogger(__name__)

# How often results are checked for expiry: a result lives a few minutes past its hour at most.
SWEEP_S = 60.0


class JobKeeper:
    """Owns the exports directory; `run()` expires results until cancelled."""

    def __init__(self, book: JobBook, clock: Clock, directory: Path, access_log: AccessRecorder, hub: JobHub,
                 sweep_s: float = SWEEP_S) -> None:
        self._book = book
        self._clock = clock
        self.directory = directory
        self._log = access_log
        self._hub = hub
        self._sweep_s = sweep_s

    async def tidy(self) -> None:
        """At start, before any job runs: interrupted jobs failed, files no done job names deleted."""
        await asyncio.to_thread(self.directory.mkdir, parents=True, exist_ok=True)
        for job in await self._book.interrupted():
            await self._log.record(AccessEvent(
                AccessAction.EXPORT_JOB_FAILED, actor="system", outcome="error", reason=INTERRUPTED,
                start=job.window_start, end=job.window_end, request_id=job.request_id, token_id=job.token_id,
                details={"job_id": job.id, "requested_by": job.requested_by, "cameras": job.cameras}))
            log.warning("export job %s was running when the gateway stopped: failed", job.id)
        kept = await self._book.kept_files()
        for path in await asyncio.to_thread(_files, self.directory):
            if path.name in kept:
                continue
            size = await asyncio.to_thread(_remove, path)
            await self._log.record(AccessEvent(
                AccessAction.EXPORT_FILE_REMOVED, actor="system",
                reason="a partial export left by a stopped gateway" if path.name.endswith(".partial")
                else "no finished export job names this file",
                details={"file": path.name, "bytes": size}))
            log.warning("removed %s from %s: no finished export job names it", path.name, self.directory)

    async def sweep(self) -> list[str]:
        """Delete the results past their keep time; the ids of the jobs expired."""
        expired = []
        for job in await self._book.due(self._clock.now()):
            size = 0
            if job.result_name:
                size = await asyncio.to_thread(_remove, self.directory / job.result_name)
            if not await self._book.expire(job.id):
                continue
            await self._log.record(AccessEvent(
                AccessAction.EXPORT_JOB_EXPIRED, actor="system", reason="kept for recording.export_keep_h",
                start=job.window_start, end=job.window_end, request_id=job.request_id, token_id=job.token_id,
                details={"job_id": job.id, "file": job.result_name, "bytes": size, "sha256": job.result_sha256,
                         "downloads": job.downloads}))
            fresh = await self._book.get(job.id)
            if fresh is not None:
                self._hub.publish(fresh)
            expired.append(job.id)
        return expired

    async def run(self) -> None:
        """Sweep every `sweep_s` until cancelled."""
        while True:
            try:
                await self.sweep()
            except Exception:  # a database hiccup: the next sweep tries again
                log.exception("sweeping expired exports failed")
            await asyncio.sleep(self._sweep_s)


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() or p.is_symlink())


def _remove(path: Path) -> int:
    """Delete a file; its size (0 when it was already gone)."""
    try:
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:
        return 0
    return size
