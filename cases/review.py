"""The cases' part of the replay desk's timeline: cases that name a window's cameras, at the time
the case says it happened."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cases.models import CaseRow
from core.reviewing import ReviewItem, ReviewWindow


class CaseReview:
    """Reads cases ("case.<kind>", e.g. "case.incident") that happened in a window, oldest first."""

    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db

    async def items(self, window: ReviewWindow) -> list[ReviewItem]:
        wanted = set(window.cameras)
        if not wanted:
            return []
        # The cameras are a comma-separated column: the window narrows in SQL, the cameras here.
        query = (select(CaseRow).where(CaseRow.at >= window.start, CaseRow.at < window.end)
                 .order_by(CaseRow.at, CaseRow.id))
        items: list[ReviewItem] = []
        async with self._db() as session:
            for row in (await session.scalars(query)).all():
                for camera in [c for c in row.cameras.split(",") if c in wanted]:
                    detail = " · ".join(p for p in (row.state, row.severity, row.number or "", row.location) if p)
                    items.append(ReviewItem(id=f"case:{row.id}:{camera}", kind=f"case.{row.kind}", camera=camera,
                                            start=row.at, end=row.closed_at, title=row.title, detail=detail))
                if len(items) >= window.cap:
                    break
        return items[:window.cap]
