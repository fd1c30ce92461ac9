"""Expiring recordings (cf. MediaMTX internal/recordcleaner): the only code that deletes.

Three rules, oldest first, never a segment under an active evidence hold:
  * age: a camera's segments that ended more than its retention_days ago (never fewer days than
    recording.min_retention_days, whatever a camera says), and more than the retention in force
    when they were recorded (retention_periods: a shortening applies to what comes after);
  * budget: while indexed bytes exceed recording.max_bytes, segments older than
    recording.min_retention_days only (a small budget is no way to delete footage);
  * free-space floor: while the filesystem has less than recording.min_free_bytes free.
Only the free-space floor may take segments younger than the retention floor: it exists so the
disk never fills (and storage.low has warned before it acts); each such deletion says so in its
reason. Held segments are the only ones it may not take. With storage.object, a segment whose object is
still locked (segment_objects.retain_until) is not a candidate, and its object version is deleted
before its row: a store that refuses (the lock as it sees it, a legal hold) keeps row and file, and
it is logged and tried again on a later pass. Each deletion is
recorded (with the segment's hash) before the file is unlinked, so a crash in between
leaves a file that recovery recognises as deleted, never an index row without a file.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.config import RecordingConfig
from recorder.reports import RecordingEvent, RecordingEventKind, RecordingEventSink, emit
from recorder.holds import held
from recorder.models import Deletion, RetentionPeriod, Segment, SegmentObject
from recorder.objectcache import SegmentFiles
from recorder.objectstore import ObjectLocked, ObjectMissing, ObjectStore, ObjectStoreError
from recorder.segmentfile import fsync_dir
from recorder.status import StorageState, disk_free
from recorder.store import SegmentStore

log = logging.getLogger(__name__)

BATCH = 64


@dataclass(frozen=True, slots=True)
class Deleted:
    camera_id: str
    start: datetime
    end: datetime
    sha256: str
    bytes: int
    reason: str


class Retention:
    """Applies the retention rules when asked; `run_once()` returns what it deleted."""

    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        store: SegmentStore,
        state: StorageState,
        clock: Clock,
        config: RecordingConfig,
        camera_days: dict[str, float],
        events: RecordingEventSink,
        objects: ObjectStore | None = None,
        files: SegmentFiles | None = None,
        shared_index: bool = False,
    ) -> None:
        self._db = db
        #: storage.object: segments' objects are deleted with them, when their lock allows.
        self._objects = objects
        self._files = files
        #: Several nodes share the index: a segment with neither a file on this node's disk nor an object
        #: is on another node's disk, and that node deletes it.
        self._shared_index = shared_index
        #: Segments this pass leaves alone (tried again next pass): the store refused to delete their
        #: object, or their file is on another node's disk.
        self._refused: set[int] = set()
        self._store = store
        self._state = state
        self._clock = clock
        self._config = config
        self._camera_days = camera_days
        self._events = events
        self._lock = asyncio.Lock()

    def set_camera_days(self, camera: str, days: float | None) -> None:
        """Keep `camera`'s recordings this long (a camera added or changed while running);
        None: the default retention again."""
        if days is None:
            self._camera_days.pop(camera, None)
        else:
            self._camera_days[camera] = days

    async def run_once(self) -> list[Deleted]:
        async with self._lock:
            self._refused.clear()
            deleted: list[Deleted] = []
            deleted += await self._by_age()
            if self._config.max_bytes is not None:
                deleted += await self._by_budget(self._config.max_bytes)
            deleted += await self._by_free_space(self._config.min_free_bytes)
            return deleted

    def days_of(self, camera: str) -> float:
        """The retention in force for `camera` now: its own or the default, never under the floor."""
        return max(self._camera_days.get(camera, self._config.retention_days), self._config.min_retention_days)

    async def _periods(self, camera: str, days: float, now: datetime) -> list[RetentionPeriod]:
        """The camera's retention periods, oldest first, with one more from `now` when `days` differs
        from the last one's (the retention changed since: on record before anything is deleted)."""
        async with self._db() as session:
            periods = list((await session.scalars(
                select(RetentionPeriod).where(RetentionPeriod.camera_id == camera).order_by(RetentionPeriod.since)
            )).all())
            if not periods or periods[-1].days != days:
                row = RetentionPeriod(camera_id=camera, days=days, since=now)
                session.add(row)
                await session.commit()
                periods.append(row)
                if len(periods) > 1:
                    log.warning("camera %s: retention %g days from now on (was %g); what was recorded before "
                                "keeps its own", camera, days, periods[-2].days)
        return periods

    async def _by_age(self) -> list[Deleted]:
        """Each segment goes when it is older than the retention in force now and than the one in
        force when it was recorded (its period's): shortening never reaches back."""
        now = self._clock.now()
        out: list[Deleted] = []
        async with self._db() as session:
            cameras = list((await session.scalars(select(Segment.camera_id).distinct())).all())
        for camera in cameras:
            days = self.days_of(camera)
            periods = await self._periods(camera, days, now)
            # (segments ending in [since, until), the days they keep); before the first period: its days.
            bounds = [p.since for p in periods[1:]] + [None]
            spans = [(None if i == 0 else p.since, bounds[i], max(days, p.days)) for i, p in enumerate(periods)]
            for since, until, keep in spans:
                cutoff = now - timedelta(days=keep)
                where = [Segment.camera_id == camera, Segment.end < cutoff]
                if since is not None:
                    where.append(Segment.end >= since)
                if until is not None:
                    where.append(Segment.end < until)
                while True:
                    batch = await self._candidates(*where)
                    if not batch:
                        break
                    for seg in batch:
                        if (gone := await self._delete(seg, "age")) is not None:
                            out.append(gone)
        return out

    async def _by_budget(self, budget: int) -> list[Deleted]:
        out: list[Deleted] = []
        while True:
            async with self._db() as session:
                used = int(await session.scalar(select(func.coalesce(func.sum(Segment.bytes), 0))) or 0)
            if used <= budget:
                return out
            young_from = self._clock.now() - timedelta(days=self._config.min_retention_days)
            batch = await self._candidates(Segment.end < young_from)
            if not batch:
                log.error("recordings use %d bytes over a budget of %d, and everything left is held or younger "
                          "than recording.min_retention_days (%g days)", used, budget, self._config.min_retention_days)
                return out
            for seg in batch:
                if (gone := await self._delete(seg, "budget")) is None:
                    continue
                out.append(gone)
                used -= seg.bytes
                if used <= budget:
                    return out

    async def _by_free_space(self, floor: int) -> list[Deleted]:
        out: list[Deleted] = []
        while True:
            free, _ = await asyncio.to_thread(disk_free, self._store.root)
            if free >= floor:
                return out
            batch = await self._candidates()
            if not batch:
                if floor:
                    log.warning("storage has %d bytes free (floor %d) and nothing may be deleted", free, floor)
                return out
            young_from = self._clock.now() - timedelta(days=self._config.min_retention_days)
            for seg in batch:
                reason = "free_space" if seg.end < young_from else "free_space_under_retention_floor"
                if reason != "free_space":
                    log.error("storage has %d bytes free (floor %d): deleting %s, younger than "
                              "recording.min_retention_days", free, self._config.min_free_bytes, seg.path)
                if (gone := await self._delete(seg, reason)) is None:
                    continue
                out.append(gone)
                free += seg.bytes
                if free >= floor:
                    break

    async def _candidates(self, *where: object) -> list[Segment]:
        """Oldest unheld segments matching `where` (with storage.object: whose objects are no longer locked)."""
        query = select(Segment).where(~held(), *where).order_by(Segment.start, Segment.id).limit(BATCH)  # type: ignore[arg-type]
        if self._objects is not None:
            query = query.where(~exists().where(SegmentObject.segment_id == Segment.id,
                                                SegmentObject.retain_until > self._clock.now()))
        if self._refused:
            query = query.where(Segment.id.not_in(self._refused))
        async with self._db() as session:
            return list((await session.scalars(query)).all())

    async def _delete(self, seg: Segment, reason: str) -> Deleted | None:
        if self._shared_index and not await self._ours(seg):
            self._refused.add(seg.id)
            return None
        if not await self._delete_object(seg):
            return None
        async with self._db() as session:
            session.add(Deletion(
                camera_id=seg.camera_id, start=seg.start, end=seg.end, path=seg.path, bytes=seg.bytes,
                sha256=seg.sha256, prev_sha256=seg.prev_sha256, reason=reason, deleted_at=self._clock.now(),
            ))
            # Re-check the hold inside the transaction that deletes the row.
            result = await session.execute(
                delete(Segment).where(Segment.id == seg.id, ~held()).execution_options(synchronize_session=False)
            )
            if not cast(CursorResult[Any], result).rowcount:
                await session.rollback()
                if await self._gone(seg):
                    return None  # another node's retention deleted it first (on a shared disk)
                await self._object_deleted_under_hold(seg)
                return None  # a hold arrived meanwhile
            await session.execute(delete(SegmentObject).where(SegmentObject.segment_id == seg.id))
            await session.commit()
        if self._files is not None:
            self._files.forget(seg.id)
        path = self._store.absolute(seg.path)
        await asyncio.to_thread(_unlink, path, self._objects is not None)
        self._state.note_deleted(seg.bytes)
        log.info("retention (%s): deleted %s sha256=%s", reason, seg.path, seg.sha256)
        await emit(self._events, RecordingEvent(
            RecordingEventKind.SEGMENT_DELETED, seg.camera_id, seg.start, seg.end, seg.sha256, reason=reason,
            details={"bytes": seg.bytes, "path": seg.path},
        ))
        return Deleted(seg.camera_id, seg.start, seg.end, seg.sha256, seg.bytes, reason)


    async def _ours(self, seg: Segment) -> bool:
        """Whether this node may delete `seg`: its file is on this node's disk (a shared one, or the
        node that wrote it), or it has an object (any node deletes that)."""
        if await asyncio.to_thread(self._store.absolute(seg.path).exists):
            return True
        if self._objects is None:
            return False
        async with self._db() as session:
            return await session.get(SegmentObject, seg.id) is not None

    async def _gone(self, seg: Segment) -> bool:
        async with self._db() as session:
            return await session.get(Segment, seg.id) is None

    async def _object_deleted_under_hold(self, seg: Segment) -> None:
        """A hold arrived between the object's deletion and the row's: forget the object, so the
        uploader uploads the local file again (under the legal hold)."""
        if self._objects is None:
            return
        async with self._db() as session:
            await session.execute(delete(SegmentObject).where(SegmentObject.segment_id == seg.id))
            await session.commit()
        if self._files is not None:
            self._files.forget(seg.id)
        local = await asyncio.to_thread(self._store.absolute(seg.path).exists)
        log.error("retention: a hold arrived on %s while its object was being deleted; %s", seg.path,
                  "the local copy is uploaded again" if local else "no local copy is left")

    async def _delete_object(self, seg: Segment) -> bool:
        """Delete the segment's object version first (True: gone, or there was none); False when the
        store refuses or fails: the row and the file stay, and a later pass tries again."""
        if self._objects is None:
            return True
        async with self._db() as session:
            obj = await session.get(SegmentObject, seg.id)
        if obj is None:
            return True
        try:
            await self._objects.delete(obj.key, obj.version_id)
        except ObjectMissing:
            log.error("retention: the object of %s (%s) was already gone from the store", seg.path, obj.key)
        except ObjectLocked as exc:
            self._refused.add(seg.id)
            log.warning("retention: the store refuses to delete %s (object lock until %s, or a legal hold): %s; "
                        "kept", obj.key, obj.retain_until.isoformat(), exc)
            return False
        except ObjectStoreError as exc:
            self._refused.add(seg.id)
            log.warning("retention: %s not deleted, the object store failed: %s; kept", seg.path, exc)
            return False
        return True


def _unlink(path: os.PathLike[str], cached: bool = False) -> None:
    """`cached`: the file was a local copy of an object, which the cache may have evicted."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        if not cached:
            log.error("retention: %s was already gone from disk", path)
        return
    fsync_dir(Path(path).parent)
