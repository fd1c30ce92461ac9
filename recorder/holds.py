"""Evidence holds: placed and released by the roles the access policy names (decided by the
caller), never deleted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from core.clock import Clock
from core.errors import BadRequest, Conflict, NotFound
from recorder.reports import RecordingEvent, RecordingEventKind, RecordingEventSink, emit
from recorder.models import Hold, Segment


def held(segment: type[Segment] = Segment) -> ColumnElement[bool]:
    """SQL condition: an active hold covers part of the segment's span."""
    return exists().where(
        and_(
            Hold.camera_id == segment.camera_id,
            Hold.released_at.is_(None),
            Hold.start < segment.end,
            Hold.end > segment.start,
        )
    )


class HoldStore:
    """Creates, lists and releases holds; every change is reported to the event sink."""

    def __init__(
        self, db: async_sessionmaker[AsyncSession], clock: Clock, events: RecordingEventSink,
        changed: Callable[[], None] = lambda: None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._events = events
        #: Called after a hold is placed or released (storage.object: legal holds follow holds).
        self._changed = changed

    async def place(self, camera: str, start: datetime, end: datetime, reason: str, owner: str) -> Hold:
        """A new hold on camera's recordings in [start, end)."""
        if end <= start:
            raise BadRequest("end must be after start")
        if not reason.strip():
            raise BadRequest("a hold needs a reason")
        hold = Hold(camera_id=camera, start=start, end=end, reason=reason.strip()[:1024], owner=owner,
                    created_at=self._clock.now())
        async with self._db() as session:
            session.add(hold)
            await session.commit()
        self._changed()
        await emit(self._events, RecordingEvent(
            RecordingEventKind.HOLD_PLACED, camera, start, end, reason=hold.reason, actor=owner,
            details={"hold_id": hold.id},
        ))
        return hold

    async def release(self, hold_id: int, by: str, reason: str) -> Hold:
        """Release an active hold, recording who and why; a hold is released once."""
        if not reason.strip():
            raise BadRequest("releasing a hold needs a reason")
        async with self._db() as session:
            hold = await session.get(Hold, hold_id, with_for_update=True)
            if hold is None:
                raise NotFound(f"no hold {hold_id}")
            if hold.released_at is not None:
                raise Conflict(f"hold {hold_id} was already released")
            hold.released_at = self._clock.now()
            hold.released_by = by
            hold.release_reason = reason.strip()[:1024]
            await session.commit()
        self._changed()
        await emit(self._events, RecordingEvent(
            RecordingEventKind.HOLD_RELEASED, hold.camera_id, hold.start, hold.end, reason=hold.release_reason,
            actor=by, details={"hold_id": hold.id, "owner": hold.owner},
        ))
        return hold

    async def get(self, hold_id: int) -> Hold | None:
        """One hold, active or released."""
        async with self._db() as session:
            return await session.get(Hold, hold_id)

    async def list(self, camera: str | None = None, active: bool | None = None) -> list[Hold]:
        query = select(Hold)
        if camera is not None:
            query = query.where(Hold.camera_id == camera)
        if active is True:
            query = query.where(Hold.released_at.is_(None))
        elif active is False:
            query = query.where(Hold.released_at.is_not(None))
        async with self._db() as session:
            return list((await session.scalars(query.order_by(Hold.created_at, Hold.id))).all())
