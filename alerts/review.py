"""The alerts' part of the replay desk's timeline: the outbox's alerts about a window's cameras
(alerts about no camera are the gateway's, not a recording's; they are not listed here)."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alerts.outbox import AlertRow
from core.reviewing import ReviewItem, ReviewWindow


class AlertReview:
    """Reads alerts ("alert.<kind>", e.g. "alert.camera.alarm") raised in a window, oldest first."""

    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db

    async def items(self, window: ReviewWindow) -> list[ReviewItem]:
        if not window.cameras:
            return []
        query = (select(AlertRow).where(AlertRow.camera.in_(sorted(window.cameras)), AlertRow.at >= window.start,
                                        AlertRow.at < window.end)
                 .order_by(AlertRow.at, AlertRow.seq).limit(window.cap))
        async with self._db() as session:
            rows = (await session.scalars(query)).all()
        items = []
        for row in rows:
            body = json.loads(row.body)
            summary = body.get("summary") or {}
            details = body.get("details") or {}
            # The summary in both languages, so a search in either finds it; details as key=value.
            words = [summary.get("id", ""), *(f"{k}={v}" for k, v in sorted(details.items()))]
            items.append(ReviewItem(
                id=f"alert:{row.id}", kind=f"alert.{row.kind}", camera=str(row.camera), start=row.at, end=None,
                title=summary.get("en") or row.kind, detail=" · ".join(w for w in [row.severity, *words] if w),
            ))
        return items
