"""Raises `patrol.missed` when an open shift goes a patrol interval without a patrol (SOP step 4
asks for periodic patrols; the handover lists the misses too, from the same arithmetic)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.alerting import AlertKind, Notice, Publisher
from core.clock import Clock
from desk.models import PatrolRow
from desk.shifts import ShiftBook

log = logging.getLogger(__name__)

#: How often open shifts are looked at; a miss is announced at most this late.
TICK_S = 30.0


class PatrolWatch:
    """Looks at every open shift each tick; one alert per missed interval per shift."""

    def __init__(self, db: async_sessionmaker[AsyncSession], clock: Clock, shifts: ShiftBook, interval: timedelta,
                 alerts: Publisher) -> None:
        self._db = db
        self._clock = clock
        self._shifts = shifts
        self._interval = interval
        self._alerts = alerts
        self._announced: dict[str, datetime] = {}  # shift id -> the due time last announced

    async def run(self) -> None:
        """Check until cancelled; a database hiccup skips one tick."""
        while True:
            try:
                await self.check()
            except Exception:
                log.exception("could not check for missed patrols")
            await asyncio.sleep(min(TICK_S, self._interval.total_seconds() / 4))

    async def check(self) -> list[str]:
        """Announce every open shift whose patrol is overdue (once per due time); their ids."""
        now = self._clock.now()
        open_shifts = await self._shifts.on_duty()
        self._announced = {k: v for k, v in self._announced.items() if k in {s.id for s in open_shifts}}
        announced = []
        for shift in open_shifts:
            async with self._db() as session:
                last = (await session.execute(
                    select(func.max(PatrolRow.ended_at)).where(PatrolRow.shift_id == shift.id))).scalar_one_or_none()
            since = max(shift.opened_at, last) if last is not None else shift.opened_at
            due = since + self._interval
            if now < due or self._announced.get(shift.id) == due:
                continue
            self._announced[shift.id] = due
            announced.append(shift.id)
            self._alerts.publish(Notice(AlertKind.PATROL_MISSED, details={
                "operator": shift.operator, "shift": shift.id, "minutes": int((now - since).total_seconds() // 60),
                "interval_min": round(self._interval.total_seconds() / 60), "due_at": due.isoformat()}))
        return announced
