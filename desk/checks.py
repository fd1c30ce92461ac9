"""Camera and equipment checks (SOP step 3): the operator's ticks and remarks beside what the
server saw at that moment (each camera's state and stream figures, each probe's reading)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.deskconfig import DeskConfig
from core.errors import BadRequest, NotFound
from core.utctime import format_utc
from core.forms import check_length
from desk.forms import CheckForm
from desk.models import CheckRow
from policy.audit.records import Actor, RecordWriter
from desk.shifts import Shift
from policy.audit.entries import AccessAction

CAMERA_FACTS = ("state", "reason", "problems", "since", "stats")


def stored(row: CheckRow | Any) -> dict[str, Any]:
    """A stored record as the API shows it: its content plus hash and log entry."""
    return {**json.loads(row.content), "sha256": row.sha256, "log_seq": row.log_seq}


class CheckBook:
    """Saves and reads checks."""

    def __init__(self, db: async_sessionmaker[AsyncSession], clock: Clock, config: DeskConfig, writer: RecordWriter) -> None:
        self._db = db
        self._clock = clock
        self._config = config
        self._writer = writer

    async def save(
        self, who: Actor, shift: Shift, form: CheckForm, cameras: Sequence[Mapping[str, Any]],
        readings: Mapping[str, Mapping[str, Any]],
    ) -> dict[str, Any]:
        """Store a check of every camera in `cameras` (as the server sees them now) and every item of
        equipment; cameras and items the form does not tick are stored as not checked."""
        cfg = self._config
        known = {str(c["id"]): c for c in cameras}
        items = {item.id: item for item in cfg.equipment}
        for i, tick in enumerate(form.cameras):
            if tick.camera not in known:
                raise BadRequest(f"cameras[{i}].camera: no camera {tick.camera!r}")
            check_length(tick.remark, cfg.remark_max_chars, f"cameras[{i}].remark")
        for i, etick in enumerate(form.equipment):
            if etick.id not in items:
                raise BadRequest(f"equipment[{i}].id: no equipment item {etick.id!r} (desk.equipment)")
            check_length(etick.remark, cfg.remark_max_chars, f"equipment[{i}].remark")
        check_length(form.notes, cfg.notes_max_chars, "notes")
        ticks = {t.camera: t for t in form.cameras}
        eticks = {t.id: t for t in form.equipment}
        now = self._clock.now()
        content: dict[str, Any] = {
            "kind": "check", "id": str(uuid.uuid4()), "shift_id": shift.id, "operator": who.user, "role": who.role,
            "at": format_utc(now),
            "cameras": [
                {
                    "camera": cam_id, "name": cam.get("name") or cam_id, "checked": cam_id in ticks,
                    "ok": ticks[cam_id].ok if cam_id in ticks else None,
                    "remark": ticks[cam_id].remark if cam_id in ticks else "",
                    "snapshot": ticks[cam_id].snapshot if cam_id in ticks else None,
                    **{k: cam.get(k) for k in CAMERA_FACTS},
                }
                for cam_id, cam in sorted(known.items())
            ],
            "equipment": [
                {
                    "id": item.id, "name": item.name, "kind": item.kind, "checked": item.id in eticks,
                    "ok": eticks[item.id].ok if item.id in eticks else None,
                    "remark": eticks[item.id].remark if item.id in eticks else "",
                    "probe": dict(readings[item.id]) if item.id in readings else None,
                }
                for item in cfg.equipment
            ],
            "notes": form.notes,
        }

        def row(text: str, digest: str, seq: int) -> CheckRow:
            return CheckRow(id=content["id"], shift_id=shift.id, operator=who.user, at=now, content=text,
                            sha256=digest, log_seq=seq)

        _, digest, seq = await self._writer.commit(content, AccessAction.CHECK_SAVED, who, row,
                                                   details={"shift": shift.id})
        return {**content, "sha256": digest, "log_seq": seq}

    async def get(self, check_id: str) -> dict[str, Any]:
        """One stored check; 404 when unknown."""
        async with self._db() as session:
            row = await session.get(CheckRow, check_id)
        if row is None:
            raise NotFound(f"no check {check_id!r}")
        return stored(row)

    async def list(
        self, operator: str | None = None, shift_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Checks, newest first."""
        query = select(CheckRow)
        if operator is not None:
            query = query.where(CheckRow.operator == operator)
        if shift_id is not None:
            query = query.where(CheckRow.shift_id == shift_id)
        async with self._db() as session:
            rows = (await session.execute(query.order_by(CheckRow.at.desc()).limit(limit))).scalars().all()
        return [stored(r) for r in rows]
