"""Camera events kept in the database, so the event list survives a restart (table camera_events).

Events arrive on the loop from the cameras' subscriptions; `add` only queues them (bounded,
never blocking a subscription) and `run` writes them in batches, one transaction each, and
deletes those older than `events.keep_days` once an hour. A database that is down costs
the events that overflow the queue meanwhile (counted and logged), nothing else.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta

from sqlalchemy import Boolean, Index, Integer, String, Text, delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import Clock
from core.db import Base, UTCDateTime
from core.waiting import finish
from onvif_adapters.subscription import CameraEvent
from onvif_adapters.topics import EventKind

log = logging.getLogger(__name__)

QUEUE = 10_000
BATCH = 500
RETENTION_EVERY_S = 3600.0
RETRY_S = 2.0


class StoredEvent(Base):
    """One camera event."""

    __tablename__ = "camera_events"
    __table_args__ = (Index("ix_camera_events_camera_id_at", "camera_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    topic: Mapped[str] = mapped_column(String(512), nullable=False)
    #: JSON: source and data items, the camera's own time, whether it was the initial state.
    details: Mapped[str] = mapped_column(Text, nullable=False, default="{}")


def _row(event: CameraEvent) -> StoredEvent:
    details = {
        "source": dict(event.source),
        "data": dict(event.data),
        "camera_time": event.camera_time.isoformat() if event.camera_time else None,
        "initial": event.initial,
    }
    return StoredEvent(
        camera_id=event.camera, kind=event.kind.value, active=event.active, at=event.at,
        topic=event.topic[:512], details=json.dumps(details, separators=(",", ":")),
    )


def _event(row: StoredEvent) -> CameraEvent:
    details = json.loads(row.details or "{}")
    camera_time = details.get("camera_time")
    try:
        kind = EventKind(row.kind)
    except ValueError:
        kind = EventKind.OTHER
    return CameraEvent(
        camera=row.camera_id, kind=kind, active=row.active, at=row.at, topic=row.topic,
        source=details.get("source") or {}, data=details.get("data") or {},
        camera_time=datetime.fromisoformat(camera_time) if camera_time else None,
        initial=bool(details.get("initial")),
    )


class EventStore:
    """Writes events to camera_events in batches and reads them back."""

    def __init__(self, db: async_sessionmaker[AsyncSession], clock: Clock, keep_days: float) -> None:
        self._db = db
        self._clock = clock
        self.keep_days = keep_days
        self._queue: asyncio.Queue[CameraEvent] = asyncio.Queue(QUEUE)
        self._idle = asyncio.Event()
        self._idle.set()
        self.dropped = 0
        self.written = 0

    def add(self, event: CameraEvent) -> None:
        """Queue `event` for writing; never blocks."""
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.warning("events: database writes are behind; %d event(s) not stored", self.dropped)
            return
        self._idle.clear()

    async def synced(self, within: float = 2.0) -> None:
        """Wait (at most `within` s) until what was queued is written, so a read sees it."""
        try:
            async with asyncio.timeout(within):
                await self._idle.wait()
        except TimeoutError:
            log.info("events: database writes are behind; the list may miss the newest events")

    async def run(self) -> None:
        """Write queued events until cancelled (what is queued then is still written)."""
        loop = asyncio.get_running_loop()
        next_retention = loop.time()
        batch: list[CameraEvent] = []
        try:
            while True:
                if loop.time() >= next_retention:
                    await self._expire()
                    next_retention = loop.time() + RETENTION_EVERY_S
                if not batch:
                    try:
                        async with asyncio.timeout(max(1.0, next_retention - loop.time())):
                            batch.append(await self._queue.get())
                    except TimeoutError:
                        continue
                while len(batch) < BATCH and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                if await finish(self._write(batch)):  # a stop waits for the batch in flight
                    batch = []
                    if self._queue.empty():
                        self._idle.set()
                else:
                    await asyncio.sleep(RETRY_S)
        finally:
            batch += [self._queue.get_nowait() for _ in range(self._queue.qsize())]
            if batch:
                await asyncio.shield(self._write(batch))

    async def _write(self, batch: list[CameraEvent]) -> bool:
        try:
            async with self._db() as session, session.begin():
                session.add_all([_row(e) for e in batch])
        except (SQLAlchemyError, OSError) as exc:
            log.warning("events: storing %d event(s) failed (%s); retrying", len(batch), type(exc).__name__)
            return False
        self.written += len(batch)
        return True

    async def _expire(self) -> None:
        cutoff = self._clock.now() - timedelta(days=self.keep_days)
        try:
            async with self._db() as session, session.begin():
                await session.execute(delete(StoredEvent).where(StoredEvent.at < cutoff))
        except (SQLAlchemyError, OSError) as exc:
            log.warning("events: deleting events older than %g days failed (%s)", self.keep_days, type(exc).__name__)

    async def query(
        self, cameras: set[str], kind: EventKind | None, since: datetime | None, limit: int
    ) -> list[CameraEvent]:
        """Stored events matching, newest first."""
        if not cameras:
            return []
        await self.synced()
        q = select(StoredEvent).where(StoredEvent.camera_id.in_(sorted(cameras)))
        if kind is not None:
            q = q.where(StoredEvent.kind == kind.value)
        if since is not None:
            q = q.where(StoredEvent.at >= since)
        q = q.order_by(StoredEvent.at.desc(), StoredEvent.id.desc()).limit(limit)
        async with self._db() as session:
            rows = (await session.scalars(q)).all()
        return [_event(r) for r in rows]

    async def between(self, cameras: set[str], start: datetime, end: datetime, limit: int) -> list[CameraEvent]:
        """Stored events of `cameras` at or after `start` and before `end`, oldest first."""
        if not cameras:
            return []
        await self.synced()
        q = (select(StoredEvent).where(StoredEvent.camera_id.in_(sorted(cameras)), StoredEvent.at >= start,
                                       StoredEvent.at < end)
             .order_by(StoredEvent.at, StoredEvent.id).limit(limit))
        async with self._db() as session:
            rows = (await session.scalars(q)).all()
        return [_event(r) for r in rows]
