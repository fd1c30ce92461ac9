"""The segment index in the database: add sealed segments, open and close gaps, query spans."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.errors import PantauError
from recorder.models import Gap, Segment
from recorder.segment import SealedSegment

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CameraTail:
    """Where a camera's chain ends in the index."""

    sha256: str | None
    end: datetime | None


class SegmentFenced(PantauError):
    """A segment written under a lease epoch that is no longer the camera's: another node records
    the camera now, so this one must not be indexed (retrying cannot help)."""

    status = 409
    kind = "segment-fenced"
    title = "Segment written under a lost camera lease"
    retriable = False

    def __init__(self, seg: SealedSegment) -> None:
        super().__init__(f"camera {seg.camera_id}: segment {seg.path} was written under lease epoch "
                         f"{seg.lease_epoch}, which is no longer the camera's")
        self.segment = seg


class GapFenced(PantauError):
    """A gap row written under a lease epoch that is no longer the camera's: the node that lost the
    lease must not open, close or take over the camera's gaps (the new owner keeps them)."""

    status = 409
    kind = "gap-fenced"
    title = "Gap written under a lost camera lease"
    retriable = False

    def __init__(self, camera: str, epoch: int) -> None:
        super().__init__(f"camera {camera}: gap row under lease epoch {epoch}, which is no longer the camera's")
        self.camera = camera
        self.epoch = epoch


class LeaseCheck(Protocol):
    """Whether `epoch` is still `camera`'s unexpired lease, checked in `session`'s transaction and
    holding the lease against a new owner until it commits (cluster.fencing.still_owner)."""

    async def __call__(self, session: AsyncSession, camera: str, epoch: int) -> bool: ...


class SegmentIndex:
    """Reads and writes recording_segments and recording_gaps."""

    def __init__(self, db: async_sessionmaker[AsyncSession], clock: Clock, fence: LeaseCheck | None = None) -> None:
        self._db = db
        self._clock = clock
        #: Set when several nodes share the database: a segment with a lease epoch is indexed only
        #: while that epoch is its camera's, in the same transaction as the insert.
        self._fence = fence

    async def add(self, seg: SealedSegment) -> Segment:
        """Index a sealed segment; idempotent on its path. One with a lease epoch is fenced: raises
        SegmentFenced when the epoch is no longer its camera's (nothing is written then)."""
        async with self._db() as session:
            existing = await session.scalar(select(Segment).where(Segment.path == seg.path))
            if existing is not None:
                return existing
            if self._fence is not None and seg.lease_epoch is not None:
                if not await self._fence(session, seg.camera_id, seg.lease_epoch):
                    await session.rollback()
                    raise SegmentFenced(seg)
            row = Segment(
                camera_id=seg.camera_id, start=seg.start, end=seg.end, path=seg.path, bytes=seg.bytes,
                sha256=seg.sha256, prev_sha256=seg.prev_sha256, status=seg.status, codec=seg.codec,
                width=seg.width, height=seg.height, audio_codec=seg.audio_codec,
                audio_source_codec=seg.audio_source_codec, drift_ms=seg.drift_ms,
                timestamps=seg.timestamps, sealed_at=self._clock.now(), stream=seg.stream,
                lease_epoch=seg.lease_epoch,
            )
            session.add(row)
            await session.commit()
            return row

    async def tail(self, camera: str, stream: str = "main") -> CameraTail:
        """The newest segment of one of a camera's streams (its hash continues that stream's chain)."""
        async with self._db() as session:
            row = await session.scalar(
                select(Segment).where(Segment.camera_id == camera, Segment.stream == stream)
                .order_by(Segment.start.desc()).limit(1)
            )
        return CameraTail(row.sha256, row.end) if row else CameraTail(None, None)

    async def _fenced(self, session: AsyncSession, camera: str, lease_epoch: int | None) -> None:
        """Raise GapFenced (rolling back) unless `lease_epoch` is still `camera`'s lease, checked in
        `session`'s transaction like a segment's insert (no lease: nothing to check)."""
        if self._fence is not None and lease_epoch is not None:
            if not await self._fence(session, camera, lease_epoch):
                await session.rollback()
                raise GapFenced(camera, lease_epoch)

    async def open_gap(
        self, camera: str, start: datetime, reason: str, stream: str = "main", lease_epoch: int | None = None
    ) -> int:
        """A new open gap row; under a lease epoch only while it is the camera's (else GapFenced)."""
        async with self._db() as session:
            await self._fenced(session, camera, lease_epoch)
            gap = Gap(camera_id=camera, start=start, end=None, reason=reason[:256], stream=stream)
            session.add(gap)
            await session.commit()
            return gap.id

    async def close_gap(self, gap_id: int, end: datetime, lease_epoch: int | None = None) -> Gap | None:
        """Close a gap row at `end`; under a lease epoch only while it is the camera's (else GapFenced)."""
        async with self._db() as session:
            gap = await session.get(Gap, gap_id)
            if gap is None:
                return None
            await self._fenced(session, gap.camera_id, lease_epoch)
            gap.end = max(end, gap.start)
            await session.commit()
            return gap

    async def adopt_open_gap(self, camera: str, stream: str = "main", lease_epoch: int | None = None) -> Gap | None:
        """The gap a previous run left open (it stopped during an outage), to be continued.

        Older open gaps (several crashes in one outage) end where the next one starts. Under a lease
        epoch only while it is the camera's (else GapFenced).
        """
        async with self._db() as session:
            await self._fenced(session, camera, lease_epoch)
            rows = list((await session.scalars(
                select(Gap).where(Gap.camera_id == camera, Gap.stream == stream, Gap.end.is_(None))
                .order_by(Gap.start, Gap.id)
            )).all())
            if not rows:
                return None
            for older, newer in zip(rows, rows[1:], strict=False):
                await session.execute(update(Gap).where(Gap.id == older.id).values(end=newer.start))
            await session.commit()
            return rows[-1]

    async def segments(
        self, camera: str, start: datetime | None, end: datetime | None, stream: str = "main"
    ) -> list[Segment]:
        """Segments of one of a camera's streams overlapping [start, end), oldest first."""
        query = select(Segment).where(Segment.camera_id == camera, Segment.stream == stream)
        if end is not None:
            query = query.where(Segment.start < end)
        if start is not None:
            query = query.where(Segment.end > start)
        async with self._db() as session:
            return list((await session.scalars(query.order_by(Segment.start, Segment.id))).all())

    async def gaps(
        self, camera: str, start: datetime | None, end: datetime | None, stream: str = "main"
    ) -> list[Gap]:
        """Gaps of one of a camera's streams overlapping [start, end) (open gaps included), oldest first."""
        query = select(Gap).where(Gap.camera_id == camera, Gap.stream == stream)
        if end is not None:
            query = query.where(Gap.start < end)
        if start is not None:
            query = query.where((Gap.end.is_(None)) | (Gap.end > start))
        async with self._db() as session:
            return list((await session.scalars(query.order_by(Gap.start, Gap.id))).all())

    async def span(self, camera: str, stream: str = "main") -> tuple[datetime, datetime] | None:
        """The start of the oldest and the end of the newest sealed segment of a camera's stream, or None."""
        async with self._db() as session:
            row = (await session.execute(
                select(func.min(Segment.start), func.max(Segment.end))
                .where(Segment.camera_id == camera, Segment.stream == stream))).first()
        if row is None or row[0] is None or row[1] is None:
            return None
        return _utc(row[0]), _utc(row[1])

    async def usage(self) -> tuple[int, dict[str, datetime]]:
        """Total indexed bytes and the oldest segment start per camera."""
        async with self._db() as session:
            total = await session.scalar(select(func.coalesce(func.sum(Segment.bytes), 0)))
            rows = (await session.execute(select(Segment.camera_id, func.min(Segment.start)).group_by(
                Segment.camera_id))).all()
        return int(total or 0), {cam: oldest for cam, oldest in rows}


def _utc(value: datetime) -> datetime:
    # min()/max() keep the column's type, so values come back aware; SQLite's raw text would not.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
