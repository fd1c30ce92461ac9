"""Patrols through the cameras (SOP step 4): per camera the time it was really on screen, whether
the operator acknowledged it, skipped it or had something to report, and its state at the end."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.deskconfig import DeskConfig
from core.errors import BadRequest, NotFound
from core.utctime import format_utc
from desk.checks import stored
from core.forms import check_length
from desk.forms import PatrolForm
from desk.models import PatrolRow
from policy.audit.records import Actor, RecordWriter
from desk.shifts import Shift
from policy.audit.entries import AccessAction

# Browser and server clocks differ a little; a patrol ending "in the future" by more is refused.
CLOCK_SLACK = timedelta(seconds=60)


class PatrolBook:
    """Records and reads patrols."""

    def __init__(self, db: async_sessionmaker[AsyncSession], clock: Clock, config: DeskConfig, writer: RecordWriter) -> None:
        self._db = db
        self._clock = clock
        self._config = config
        self._writer = writer

    async def record(
        self, who: Actor, shift: Shift, form: PatrolForm, cameras: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        """Store a patrol of `shift`; `cameras` are the cameras as the server sees them now."""
        now = self._clock.now()
        if form.ended_at < form.started_at:
            raise BadRequest("ended_at: before started_at")
        if form.ended_at > now + CLOCK_SLACK:
            raise BadRequest("ended_at: in the future")
        if form.started_at < shift.opened_at - CLOCK_SLACK:
            raise BadRequest("started_at: before your shift was opened")
        length_s = (form.ended_at - form.started_at).total_seconds()
        known = {str(c["id"]): c for c in cameras}
        for i, stop in enumerate(form.cameras):
            if stop.camera not in known:
                raise BadRequest(f"cameras[{i}].camera: no camera {stop.camera!r}")
            if stop.acknowledged and stop.skipped:
                raise BadRequest(f"cameras[{i}]: acknowledged and skipped at once")
            if stop.shown_s > length_s + CLOCK_SLACK.total_seconds():
                raise BadRequest(f"cameras[{i}].shown_s: longer than the patrol")
            check_length(stop.report, self._config.remark_max_chars, f"cameras[{i}].report")
        content: dict[str, Any] = {
            "kind": "patrol", "id": str(uuid.uuid4()), "shift_id": shift.id, "operator": who.user, "role": who.role,
            "recorded_at": format_utc(now), "started_at": format_utc(form.started_at),
            "ended_at": format_utc(form.ended_at), "group": form.group,
            "cameras": [
                {
                    "camera": stop.camera, "name": known[stop.camera].get("name") or stop.camera,
                    "shown_s": round(stop.shown_s, 1), "acknowledged": stop.acknowledged, "skipped": stop.skipped,
                    "report": stop.report, "state": known[stop.camera].get("state"),
                    "reason": known[stop.camera].get("reason", ""),
                }
                for stop in form.cameras
            ],
        }

        def row(text: str, digest: str, seq: int) -> PatrolRow:
            return PatrolRow(id=content["id"], shift_id=shift.id, operator=who.user, started_at=form.started_at,
                             ended_at=form.ended_at, content=text, sha256=digest, log_seq=seq)

        _, digest, seq = await self._writer.commit(content, AccessAction.PATROL_RECORDED, who, row,
                                                   details={"shift": shift.id})
        return {**content, "sha256": digest, "log_seq": seq}

    async def get(self, patrol_id: str) -> dict[str, Any]:
        """One stored patrol; 404 when unknown."""
        async with self._db() as session:
            row = await session.get(PatrolRow, patrol_id)
        if row is None:
            raise NotFound(f"no patrol {patrol_id!r}")
        return stored(row)

    async def list(
        self, operator: str | None = None, shift_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Patrols, newest first."""
        query = select(PatrolRow)
        if operator is not None:
            query = query.where(PatrolRow.operator == operator)
        if shift_id is not None:
            query = query.where(PatrolRow.shift_id == shift_id)
        async with self._db() as session:
            rows = (await session.execute(query.order_by(PatrolRow.started_at.desc()).limit(limit))).scalars().all()
        return [stored(r) for r in rows]
