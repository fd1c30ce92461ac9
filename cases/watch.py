"""Keeps open cases moving: escalates one nobody acknowledged in time (again each time), and extends
an open incident's or emergency's holds so its recordings stay kept while it is worked on."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cases.book import SYSTEM, CaseBook
from cases.lifecycle import State
from cases.models import CaseHoldRow
from core.clock import Clock

log = logging.getLogger(__name__)

#: How often open cases are looked at: an escalation is at most this late.
TICK_S = 1.0


class CaseWatch:
    """Escalation and hold extension, one pass per tick."""

    def __init__(self, db: async_sessionmaker[AsyncSession], clock: Clock, book: CaseBook) -> None:
        self._db = db
        self._clock = clock
        self._book = book

    async def run(self) -> None:
        """Watch until cancelled; a failed pass is logged and the next one tries again."""
        while True:
            try:
                await self.check()
            except Exception:
                log.exception("could not check open cases")
            await asyncio.sleep(TICK_S)

    async def check(self) -> list[str]:
        """Escalate what is overdue and extend holds running out; the ids escalated."""
        cfg = self._book.config
        now = self._clock.now()
        escalated = []
        cases = await self._book.open_cases()
        for case in cases:
            if case.state != State.OPENED.value:
                continue
            playbook = self._book.playbooks.get(case.playbook) if case.playbook else None
            timeout = timedelta(seconds=playbook.escalate_after_s if playbook else cfg.ack_timeout_s)
            # Once per timeout from the last escalation: a gateway that was down escalates once, not
            # once for every timeout it missed.
            if now >= (case.last_escalated_at or case.opened_at) + timeout:
                await self._book.escalate(case.id, (now - case.opened_at).total_seconds())
                escalated.append(case.id)
        await self._extend(now, [c.id for c in cases if c.kind != "complaint" and c.state != State.RESOLVED.value])
        return escalated

    async def _extend(self, now: datetime, case_ids: list[str]) -> None:
        if not case_ids:
            return
        after = timedelta(minutes=self._book.config.hold_after_min)
        async with self._db() as session:
            rows = (await session.execute(
                select(CaseHoldRow.case_id, CaseHoldRow.camera, func.max(CaseHoldRow.end))
                .where(CaseHoldRow.case_id.in_(case_ids)).group_by(CaseHoldRow.case_id, CaseHoldRow.camera)
            )).all()
        due: dict[str, list[str]] = {}
        ends: dict[str, datetime] = {}
        for case_id, camera, end in rows:
            # Extend once less than half the margin is left: each extension is one hold per camera.
            if end - now < after / 2:
                due.setdefault(case_id, []).append(camera)
                ends[case_id] = min(end, ends.get(case_id, end))
        for case_id, cameras in due.items():
            await self._book.place_holds(case_id, SYSTEM, cameras, ends[case_id], now + after)
