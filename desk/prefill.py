"""What happened during a shift, read from the records the rest of Pantau keeps: the handover's
pre-filled content (SOP step 2: "all information passed on clearly and in writing")."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alerts.outbox import AlertRow
from core.alerting import AlertKind
from core.deskconfig import DeskConfig
from core.utctime import format_utc_or_none as _iso
from desk.models import CheckRow, PatrolRow
from desk.schedule import missed_patrols
from desk.shifts import Shift
from policy.dispositions.models import Disposition, PlaybackRequest
from recorder.models import Bookmark, Gap, Hold
from streams.statehistory import outages, seconds_between as _seconds, state_changes

#: The handover lists at most this many alerts (newest dropped last); the count says how many there were.
MAX_ALERTS = 500
# The desk's own alerts say what the handover already says.
OWN_KINDS = frozenset({AlertKind.HANDOVER_FILED.value, AlertKind.HANDOVER_ACCEPTED.value})



class ShiftFacts:
    """Reads the facts of one shift's period."""

    def __init__(self, db: async_sessionmaker[AsyncSession], config: DeskConfig) -> None:
        self._db = db
        self._config = config

    async def gather(self, shift: Shift, end: datetime, cameras: Sequence[Mapping[str, Any]], notes: str = ""
                     ) -> dict[str, Any]:
        """The handover's content for `shift` from its opening to `end`, for `cameras` (id, name, state)."""
        start = shift.opened_at
        async with self._db() as session:
            camera_rows = [await self._camera(session, c, start, end) for c in cameras]
            ids = [str(c["id"]) for c in cameras]
            gaps = await self._gaps(session, ids, start, end)
            alerts, alert_count = await self._alerts(session, ids, start, end)
            holds = await self._holds(session, ids)
            bookmarks = await self._bookmarks(session, ids, start, end)
            dispositions = await self._dispositions(session, start, end)
            patrols = await self._patrols(session, shift, start, end)
            checks, equipment = await self._checks(session, shift)
        return {
            "kind": "handover_content",
            "period": {"start": _iso(start), "end": _iso(end)},
            "shift_id": shift.id, "operator": shift.operator, "slot": shift.slot,
            "cameras": camera_rows, "recording_gaps": gaps, "alerts": alerts, "alerts_total": alert_count,
            "open_holds": holds, "bookmarks": bookmarks, "dispositions": dispositions, "patrols": patrols, "checks": checks,
            "equipment_problems": equipment, "notes": notes,
        }

    async def _camera(self, session: AsyncSession, camera: Mapping[str, Any], start: datetime, end: datetime
                      ) -> dict[str, Any]:
        cam_id = str(camera["id"])
        changes = await state_changes(session, cam_id, start, end)
        return {"camera": cam_id, "name": camera.get("name") or cam_id, "state_now": camera.get("state"),
                "outages": outages(changes, start, end)}

    async def _gaps(self, session: AsyncSession, ids: list[str], start: datetime, end: datetime) -> list[dict[str, Any]]:
        rows = (await session.execute(
            select(Gap).where(Gap.camera_id.in_(ids), Gap.start <= end, or_(Gap.end.is_(None), Gap.end >= start))
            .order_by(Gap.start)
        )).scalars().all()
        return [{"camera": g.camera_id, "start": _iso(g.start), "end": _iso(g.end), "ongoing": g.end is None,
                 "seconds": _seconds(g.start, g.end, end), "reason": g.reason} for g in rows]

    async def _alerts(self, session: AsyncSession, ids: list[str], start: datetime, end: datetime
                      ) -> tuple[list[dict[str, Any]], int]:
        where = and_(AlertRow.at >= start, AlertRow.at <= end, AlertRow.kind.not_in(OWN_KINDS),
                     or_(AlertRow.camera.is_(None), AlertRow.camera.in_(ids)))
        rows = (await session.execute(select(AlertRow).where(where).order_by(AlertRow.seq).limit(MAX_ALERTS + 1)
                                      )).scalars().all()
        out = []
        for row in rows[:MAX_ALERTS]:
            body = json.loads(row.body)
            out.append({"kind": row.kind, "at": _iso(row.at), "camera": row.camera, "severity": row.severity,
                        "summary": body.get("summary", {})})
        return out, len(rows)

    async def _holds(self, session: AsyncSession, ids: list[str]) -> list[dict[str, Any]]:
        rows = (await session.execute(
            select(Hold).where(Hold.released_at.is_(None), Hold.camera_id.in_(ids)).order_by(Hold.created_at)
        )).scalars().all()
        return [{"id": h.id, "camera": h.camera_id, "start": _iso(h.start), "end": _iso(h.end), "reason": h.reason,
                 "owner": h.owner, "placed_at": _iso(h.created_at)} for h in rows]

    async def _bookmarks(self, session: AsyncSession, ids: list[str], start: datetime, end: datetime
                         ) -> list[dict[str, Any]]:
        """Bookmarks made during the shift on its cameras, with the hash the access log carries."""
        rows = (await session.execute(
            select(Bookmark).where(Bookmark.camera_id.in_(ids), Bookmark.created_at >= start,
                                   Bookmark.created_at <= end).order_by(Bookmark.created_at, Bookmark.id)
        )).scalars().all()
        return [{"id": b.id, "camera": b.camera_id, "start": _iso(b.start), "end": _iso(b.end), "note": b.note,
                 "author": b.author, "created_at": _iso(b.created_at), "sha256": b.sha256} for b in rows]

    async def _dispositions(self, session: AsyncSession, start: datetime, end: datetime) -> dict[str, Any]:
        def shape(d: Disposition, r: PlaybackRequest) -> dict[str, Any]:
            return {"token_id": d.token_id, "request_id": r.id, "party": f"{r.party_name} ({r.party_organisation})",
                    "letter_number": r.letter_number, "cameras": r.cameras.split(","), "views_used": d.views_used,
                    "max_views": d.max_views, "issued_at": _iso(d.issued_at), "last_view_at": _iso(d.last_view_at),
                    "revoked": d.revoked_at is not None}

        joined = select(Disposition, PlaybackRequest).join(PlaybackRequest, PlaybackRequest.id == Disposition.request_id)
        issued = (await session.execute(
            joined.where(Disposition.issued_at >= start, Disposition.issued_at <= end).order_by(Disposition.issued_at)
        )).all()
        used = (await session.execute(
            joined.where(Disposition.last_view_at >= start, Disposition.last_view_at <= end)
            .order_by(Disposition.last_view_at)
        )).all()
        return {"issued": [shape(d, r) for d, r in issued], "used": [shape(d, r) for d, r in used]}

    async def _patrols(self, session: AsyncSession, shift: Shift, start: datetime, end: datetime) -> dict[str, Any]:
        rows = (await session.execute(
            select(PatrolRow).where(PatrolRow.shift_id == shift.id).order_by(PatrolRow.started_at)
        )).scalars().all()
        done = []
        for row in rows:
            cams = json.loads(row.content)["cameras"]
            done.append({"id": row.id, "started_at": _iso(row.started_at), "ended_at": _iso(row.ended_at),
                         "acknowledged": [c["camera"] for c in cams if c["acknowledged"]],
                         "skipped": [c["camera"] for c in cams if c["skipped"]],
                         "reports": [{"camera": c["camera"], "report": c["report"]} for c in cams if c["report"]],
                         "sha256": row.sha256})
        interval = timedelta(minutes=self._config.patrol_interval_min)
        missed = missed_patrols(start, end, [(r.started_at, r.ended_at) for r in rows], interval)
        return {"interval_min": self._config.patrol_interval_min, "done": done,
                "missed": [{"start": _iso(m.start), "end": _iso(m.end)} for m in missed]}

    async def _checks(self, session: AsyncSession, shift: Shift) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        rows = (await session.execute(
            select(CheckRow).where(CheckRow.shift_id == shift.id).order_by(CheckRow.at)
        )).scalars().all()
        checks, problems = [], []
        for row in rows:
            content = json.loads(row.content)
            cams = content["cameras"]
            checks.append({
                "id": row.id, "at": _iso(row.at), "sha256": row.sha256,
                "not_checked": [c["camera"] for c in cams if not c["checked"]],
                "not_ok": [{"camera": c["camera"], "remark": c["remark"]} for c in cams if c["checked"] and not c["ok"]],
                "remarks": [{"camera": c["camera"], "remark": c["remark"]} for c in cams if c["remark"]],
            })
            for item in content["equipment"]:
                probe = item.get("probe")
                if item["ok"] is False or (probe is not None and not probe.get("ok")):
                    problems.append({"id": item["id"], "name": item["name"], "check": row.id, "at": _iso(row.at),
                                     "remark": item["remark"], "probe": probe})
        return checks, problems
