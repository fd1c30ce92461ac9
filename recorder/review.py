"""The recorder's part of the replay desk's timeline: recording gaps and evidence holds of a window."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.reviewing import ReviewItem, ReviewWindow
from recorder.models import Gap, Hold


class RecordingReview:
    """Reads gaps ("recording.gap") and holds ("hold") overlapping a window, oldest first."""

    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db

    async def gaps(self, window: ReviewWindow) -> list[ReviewItem]:
        """Gaps of every recorded stream (an open gap lasts until now: `end` None)."""
        if not window.cameras:
            return []
        query = (select(Gap).where(Gap.camera_id.in_(sorted(window.cameras)), Gap.start < window.end,
                                   or_(Gap.end.is_(None), Gap.end > window.start))
                 .order_by(Gap.start, Gap.id).limit(window.cap))
        async with self._db() as session:
            rows = (await session.scalars(query)).all()
        return [ReviewItem(id=f"gap:{g.id}", kind="recording.gap", camera=g.camera_id, start=g.start, end=g.end,
                           title=f"Recording gap ({g.stream} stream)", detail=g.reason) for g in rows]

    async def holds(self, window: ReviewWindow) -> list[ReviewItem]:
        """Holds covering part of the window, active or released (a release is said in the detail)."""
        if not window.cameras:
            return []
        query = (select(Hold).where(Hold.camera_id.in_(sorted(window.cameras)), Hold.start < window.end,
                                    Hold.end > window.start)
                 .order_by(Hold.start, Hold.id).limit(window.cap))
        async with self._db() as session:
            rows = (await session.scalars(query)).all()
        items = []
        for h in rows:
            released = f"; released by {h.released_by}: {h.release_reason}" if h.released_at is not None else ""
            items.append(ReviewItem(id=f"hold:{h.id}", kind="hold", camera=h.camera_id, start=h.start, end=h.end,
                                    title=f"Evidence hold by {h.owner}", detail=f"{h.reason}{released}"))
        return items
