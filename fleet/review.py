"""The fleet's part of the replay desk's timeline: each camera's outages, degraded and disabled runs
from its state history (the runs the shift handover lists)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.reviewing import ReviewItem, ReviewWindow
from streams.statehistory import state_changes, state_runs

TITLES = {"offline": "Camera offline", "degraded": "Camera degraded", "disabled": "Camera disabled"}


class StateReview:
    """Reads runs ("camera.offline", "camera.degraded", "camera.disabled") overlapping a window."""

    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db

    async def items(self, window: ReviewWindow) -> list[ReviewItem]:
        items: list[ReviewItem] = []
        async with self._db() as session:
            for camera in sorted(window.cameras):
                changes = await state_changes(session, camera, window.start, window.end)
                for run in state_runs(changes, window.start):
                    if not window.overlaps(run.start, run.end):
                        continue
                    detail = "; ".join(p for p in (run.reason, ", ".join(run.problems)) if p)
                    items.append(ReviewItem(
                        id=f"state:{camera}:{run.start.isoformat()}", kind=f"camera.{run.state}", camera=camera,
                        start=run.start, end=run.end, title=TITLES.get(run.state, f"Camera {run.state}"),
                        detail=detail))
        return items[:window.cap]
