"""Shifts: opened by an operator signing on (SOP step 1), closed by the handover (step 10)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.deskconfig import DeskConfig
from core.errors import Conflict, NotFound
from core.utctime import format_utc
from core.utctime import format_utc_or_none as _iso
from desk.models import HandoverRow, ShiftRow
from policy.audit.records import Actor, RecordWriter
from desk.schedule import planned_shift
from policy.audit.entries import AccessAction



@dataclass(frozen=True, slots=True)
class Shift:
    """A shift as the API shows it; open until its handover is filed."""

    id: str
    operator: str
    opened_at: datetime
    slot: str | None
    planned_start: datetime | None
    planned_end: datetime | None
    sha256: str
    log_seq: int
    handover_id: str | None = None

    @property
    def open(self) -> bool:
        return self.handover_id is None

    def as_json(self) -> dict[str, Any]:
        """The API's shape of a shift."""
        return {
            "id": self.id, "operator": self.operator, "opened_at": _iso(self.opened_at), "slot": self.slot,
            "planned_start": _iso(self.planned_start), "planned_end": _iso(self.planned_end), "open": self.open,
            "handover_id": self.handover_id, "sha256": self.sha256, "log_seq": self.log_seq,
        }


def _shift(row: ShiftRow, handover_id: str | None) -> Shift:
    return Shift(row.id, row.operator, row.opened_at, row.slot, row.planned_start, row.planned_end, row.sha256,
                 row.log_seq, handover_id)


class ShiftBook:
    """Opens shifts and answers who is on duty."""

    def __init__(self, db: async_sessionmaker[AsyncSession], clock: Clock, config: DeskConfig, writer: RecordWriter) -> None:
        self._db = db
        self._clock = clock
        self._config = config
        self._writer = writer
        # One process opens one shift per operator at a time; the check and the insert must not interleave.
        self._opening = asyncio.Lock()

    async def open(self, who: Actor) -> Shift:
        """Open `who`'s shift now, in the slot of the pattern it falls in (if any); 409 when one is open."""
        async with self._opening:
            current = await self.open_shift_of(who.user)
            if current is not None:
                raise Conflict(f"your shift {current.id} is open since {format_utc(current.opened_at)}; "
                               "file its handover first")
            now = self._clock.now()
            cfg = self._config
            plan = planned_shift(cfg.shifts, cfg.zone, timedelta(minutes=cfg.early_arrival_min), now)
            content = {
                "kind": "shift", "id": str(uuid.uuid4()), "operator": who.user, "role": who.role,
                "opened_at": format_utc(now), "slot": plan.name if plan else None,
                "planned_start": _iso(plan.start) if plan else None, "planned_end": _iso(plan.end) if plan else None,
            }

            def row(text: str, digest: str, seq: int) -> ShiftRow:
                return ShiftRow(id=content["id"], operator=who.user, opened_at=now, slot=content["slot"],
                                planned_start=plan.start if plan else None, planned_end=plan.end if plan else None,
                                content=text, sha256=digest, log_seq=seq)

            _, digest, seq = await self._writer.commit(content, AccessAction.SHIFT_OPENED, who, row,
                                                       details={"slot": content["slot"]})
            return Shift(str(content["id"]), who.user, now, plan.name if plan else None, plan.start if plan else None,
                         plan.end if plan else None, digest, seq)

    async def open_shift_of(self, operator: str) -> Shift | None:
        """`operator`'s open shift, if any."""
        shifts = await self.list(operator=operator, open_only=True, limit=1)
        return shifts[0] if shifts else None

    async def on_duty(self) -> list[Shift]:
        """Every open shift, oldest first."""
        return sorted(await self.list(open_only=True, limit=500), key=lambda s: s.opened_at)

    async def get(self, shift_id: str) -> Shift:
        """One shift; 404 when unknown."""
        async with self._db() as session:
            found = (await session.execute(
                select(ShiftRow, HandoverRow.id).outerjoin(HandoverRow, HandoverRow.shift_id == ShiftRow.id)
                .where(ShiftRow.id == shift_id)
            )).first()
        if found is None:
            raise NotFound(f"no shift {shift_id!r}")
        return _shift(found[0], found[1])

    async def list(self, operator: str | None = None, open_only: bool = False, limit: int = 100) -> list[Shift]:
        """Shifts, newest first."""
        query = select(ShiftRow, HandoverRow.id).outerjoin(HandoverRow, HandoverRow.shift_id == ShiftRow.id)
        if operator is not None:
            query = query.where(ShiftRow.operator == operator)
        if open_only:
            query = query.where(HandoverRow.id.is_(None))
        query = query.order_by(ShiftRow.opened_at.desc()).limit(limit)
        async with self._db() as session:
            rows = (await session.execute(query)).all()
        return [_shift(row, handover) for row, handover in rows]
