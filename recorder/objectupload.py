"""Sealed segments into the object store (storage.object), in the background: each indexed segment is
read and hashed (the local bytes must still be the indexed ones), uploaded under object lock with its
SHA-256, checked, and recorded (segment_objects); then its local file is only a cache. A store that
is away costs nothing but a growing backlog: recording and reading local segments never wait on it.
The evidence holds covering a segment are mirrored as a legal hold on its object."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.backoff import Backoff
from core.clock import Clock
from core.config import ObjectStorageConfig
from core.waiting import within
from recorder.holds import held
from recorder.models import Segment, SegmentObject
from recorder.objectcache import SegmentFiles
from recorder.objectstore import ObjectStore, ObjectStoreError
from recorder.reports import RecordingEvent, RecordingEventKind, RecordingEventSink
from recorder.store import SegmentStore

log = logging.getLogger(__name__)

#: Segments taken from the index per query.
BATCH = 32


@dataclass(frozen=True, slots=True)
class UploadStatus:
    """The uploader's figures for /health and /metrics (no database read)."""

    backlog: int
    backlog_bytes: int
    uploaded_total: int
    failed_total: int
    cached_bytes: int
    last_error: str | None


class WakeOnSeal:
    """A recording event sink that passes every event on and wakes the uploader at each sealed segment."""

    def __init__(self, inner: RecordingEventSink, wake: Callable[[], None]) -> None:
        self._inner = inner
        self._wake = wake

    async def record(self, event: RecordingEvent) -> None:
        await self._inner.record(event)
        if event.kind in (RecordingEventKind.SEGMENT_SEALED, RecordingEventKind.SEGMENT_RECOVERED):
            self._wake()


class ObjectUploader:
    """Uploads sealed segments and keeps legal holds in step; `await run()` (safe to cancel)."""

    def __init__(
        self, db: async_sessionmaker[AsyncSession], store: SegmentStore, objects: ObjectStore, files: SegmentFiles,
        clock: Clock, days_of: Callable[[str], float],
    ) -> None:
        self._db = db
        self._store = store
        self._objects = objects
        self._files = files
        self._clock = clock
        self._cfg: ObjectStorageConfig = objects.cfg
        #: The retention in force for a camera (recorder/retention.py days_of, the floor included).
        self._days_of = days_of
        self._wake = asyncio.Event()
        #: Segments this node cannot upload (not on its disk, or its bytes no longer the indexed ones).
        self._skipped: set[int] = set()
        self.backlog = 0
        self.backlog_bytes = 0
        self.uploaded_total = 0
        self.failed_total = 0
        self.last_error: str | None = None

    def wake(self) -> None:
        """Look again now (a segment was sealed, a hold placed or released)."""
        self._wake.set()

    def status(self) -> UploadStatus:
        return UploadStatus(self.backlog, self.backlog_bytes, self.uploaded_total, self.failed_total,
                            self._files.cached_bytes, self.last_error)

    async def run(self) -> None:
        """Upload what is pending, mirror holds, evict the cache; retry with backoff while the store fails."""
        backoff = Backoff(self._cfg.retry)
        loaded = False
        while True:
            delay = self._cfg.scan_interval_s
            self._wake.clear()
            try:
                if not loaded:
                    await self._files.load()
                    loaded = True
                await self.upload_pending()
                await self.sync_legal_holds()
                self.last_error = None
                backoff.reset()
            except ObjectStoreError as exc:
                self.last_error = str(exc)
                delay = backoff.next_delay()
                log.warning("object store: %s; %d segment(s) wait, next try in %.1f s", exc, self.backlog, delay)
            except Exception as exc:  # the database away, a file system error: try again, never stop recording
                self.last_error = f"{type(exc).__name__}: {exc}"
                delay = backoff.next_delay()
                log.exception("object store uploader failed; next try in %.1f s", delay)
            try:
                await self._files.evict()
            except Exception:
                log.exception("object cache: eviction failed")
            await within(self._wake.wait(), delay)

    async def upload_pending(self) -> int:
        """Upload every indexed segment without an object, oldest first; returns how many. Raises
        ObjectStoreError (after the batch in flight) when the store fails."""
        done = 0
        while True:
            batch = await self._pending()
            if not batch:
                return done
            done += await self._upload_batch(batch)

    async def _upload_batch(self, batch: list[Segment]) -> int:
        failures: list[ObjectStoreError] = []
        uploaded = 0
        gate = asyncio.Semaphore(self._cfg.upload_concurrency)

        async def one(seg: Segment) -> None:
            nonlocal uploaded
            async with gate:
                if failures:
                    return  # the store is failing: the rest of the batch waits for the next try
                try:
                    uploaded += await self._upload(seg)
                except ObjectStoreError as exc:
                    self.failed_total += 1
                    failures.append(exc)

        async with asyncio.TaskGroup() as tasks:
            for seg in batch:
                tasks.create_task(one(seg))
        await self._count_backlog()
        if failures:
            raise failures[0]
        return uploaded

    async def _pending(self) -> list[Segment]:
        await self._count_backlog()
        query = (select(Segment).outerjoin(SegmentObject, SegmentObject.segment_id == Segment.id)
                 .where(SegmentObject.segment_id.is_(None)).order_by(Segment.start, Segment.id))
        if self._skipped:
            query = query.where(Segment.id.not_in(self._skipped))
        async with self._db() as session:
            return list((await session.scalars(query.limit(BATCH))).all())

    async def _count_backlog(self) -> None:
        """Segments waiting for this node (not those it found on another node's disk)."""
        query = (select(func.count(Segment.id), func.coalesce(func.sum(Segment.bytes), 0))
                 .outerjoin(SegmentObject, SegmentObject.segment_id == Segment.id)
                 .where(SegmentObject.segment_id.is_(None)))
        if self._skipped:
            query = query.where(Segment.id.not_in(self._skipped))
        async with self._db() as session:
            count, size = (await session.execute(query)).one()
        self.backlog, self.backlog_bytes = int(count), int(size)

    async def _upload(self, seg: Segment) -> bool:
        path = self._store.absolute(seg.path)
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            # Another node's disk (several nodes, storage.path not shared): that node uploads it.
            log.debug("object store: %s is not on this node's disk; not uploaded from here", seg.path)
            self._skipped.add(seg.id)
            return False
        digest = await asyncio.to_thread(_sha256, data)
        if digest != seg.sha256 or len(data) != seg.bytes:
            log.error("object store: %s no longer matches its index (sha256 %s, indexed %s); not uploaded "
                      "(run `pantau verify-recordings`)", seg.path, digest, seg.sha256)
            self._skipped.add(seg.id)
            return False
        async with self._db() as session:
            is_held = bool(await session.scalar(select(held()).where(Segment.id == seg.id)))
        key = self._objects.key(seg.path)
        days = self._cfg.retention_days or self._days_of(seg.camera_id)
        until = seg.end + timedelta(days=days)
        put = await self._objects.put(key, data, seg.sha256, until, is_held)
        del data
        stored = put.sha256
        if stored is not None and stored != seg.sha256:
            raise ObjectStoreError(f"object store: {key}: stored sha256 {stored} != sent {seg.sha256}")
        if stored is None or self._cfg.verify == "readback":
            stored, size = await self._objects.digest(key, put.version_id)
            if stored != seg.sha256 or size != seg.bytes:
                raise ObjectStoreError(f"object store: {key}: read back sha256 {stored} ({size} bytes) != "
                                       f"{seg.sha256} ({seg.bytes} bytes)")
        async with self._db() as session:
            session.add(SegmentObject(
                segment_id=seg.id, key=key, version_id=put.version_id, sha256=stored, uploaded_at=self._clock.now(),
                lock_mode=self._cfg.lock_mode, retain_until=until, legal_hold=is_held,
            ))
            try:
                await session.commit()
            except IntegrityError:
                # Another node uploaded it meanwhile (a shared storage.path); its row stands.
                return False
        self._files.note_uploaded(seg.id, seg.bytes)
        self.uploaded_total += 1
        log.info("object store: uploaded %s (%d bytes, %s until %s)", key, seg.bytes, self._cfg.lock_mode,
                 until.isoformat(), extra={"camera": seg.camera_id})
        return True

    async def sync_legal_holds(self) -> int:
        """Set the legal hold on every object whose segment an active hold covers, lift it from every
        other; returns how many changed."""
        async with self._db() as session:
            rows = (await session.execute(
                select(SegmentObject, held().label("held")).join(Segment, Segment.id == SegmentObject.segment_id)
                .where(SegmentObject.legal_hold != held())
            )).all()
        for obj, want in rows:
            await self._objects.set_legal_hold(obj.key, obj.version_id, bool(want))
            async with self._db() as session:
                await session.execute(update(SegmentObject).where(SegmentObject.segment_id == obj.segment_id)
                                      .values(legal_hold=bool(want)))
                await session.commit()
            log.info("object store: legal hold %s on %s", "set" if want else "lifted", obj.key)
        return len(rows)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
