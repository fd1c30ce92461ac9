"""Cases as the API shows them: one case with its timeline, holds, playbook steps and minutes, or a
listing; and the row an event is stored as."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cases.lifecycle import OPEN, Event
from cases.models import BeritaAcaraRow, CaseEventRow, CaseHoldRow, CaseRow
from core.casesconfig import Contact, Playbook
from core.errors import NotFound
from core.utctime import format_utc_or_none as _iso
from policy.audit.records import Actor



def event_row(case_id: str, event: Event, who: Actor, now: datetime) -> Callable[[str, str, int], CaseEventRow]:
    """How RecordWriter stores one event of a case."""

    def make(text: str, digest: str, seq: int) -> CaseEventRow:
        return CaseEventRow(id=json.loads(text)["id"], case_id=case_id, at=now, actor=who.user, kind=event.value,
                            content=text, sha256=digest, log_seq=seq)

    return make


def summary(row: CaseRow, reporter: bool) -> dict[str, Any]:
    """A case's current state (no timeline)."""
    shown = reporter and (row.reporter_name is not None or row.reporter_contact is not None)
    return {
        "id": row.id, "kind": row.kind, "state": row.state, "severity": row.severity, "title": row.title,
        "at": _iso(row.at), "cameras": [c for c in row.cameras.split(",") if c], "playbook": row.playbook,
        "category": row.category, "channel": row.channel, "location": row.location,
        "reporter": {"name": row.reporter_name or "", "contact": row.reporter_contact or ""} if shown else None,
        "reporter_hidden": not reporter and (row.reporter_name is not None or row.reporter_contact is not None),
        "opened_at": _iso(row.opened_at), "opened_by": row.opened_by, "acknowledged_at": _iso(row.acknowledged_at),
        "forwarded_at": _iso(row.forwarded_at), "resolved_at": _iso(row.resolved_at), "closed_at": _iso(row.closed_at),
        "escalations": row.escalations, "last_escalated_at": _iso(row.last_escalated_at), "number": row.number,
    }


async def read(session: AsyncSession, case_id: str, reporter: bool, playbooks: Mapping[str, Playbook],
               directory: Sequence[Contact]) -> dict[str, Any]:
    """One case, whole; 404 when unknown."""
    row = await session.get(CaseRow, case_id)
    if row is None:
        raise NotFound(f"no case {case_id!r}")
    events = (await session.execute(
        select(CaseEventRow).where(CaseEventRow.case_id == case_id).order_by(CaseEventRow.log_seq))).scalars().all()
    holds = (await session.execute(
        select(CaseHoldRow).where(CaseHoldRow.case_id == case_id).order_by(CaseHoldRow.id))).scalars().all()
    minutes = await session.get(BeritaAcaraRow, case_id)
    timeline: list[dict[str, Any]] = []
    for e in events:
        content = json.loads(e.content)
        fields = {k: v for k, v in content.items() if k not in ("kind", "id", "case", "event", "actor", "role", "at")}
        timeline.append({"id": e.id, "kind": e.kind, "at": _iso(e.at), "actor": e.actor, "content": fields,
                         "sha256": e.sha256, "log_seq": e.log_seq})
    done = {t["content"]["step"]: t for t in timeline if t["kind"] == Event.STEP_DONE.value}
    contacts = {c.id: c for c in directory}
    steps = []
    playbook = playbooks.get(row.playbook) if row.playbook else None
    for step in playbook.steps if playbook else []:
        contact = contacts.get(step.contact) if step.contact else None
        hit = done.get(step.id)
        steps.append({"id": step.id, "text_id": step.text_id, "text_en": step.text_en or step.text_id,
                      "contact": contact.model_dump() if contact else None, "done_at": hit["at"] if hit else None,
                      "done_by": hit["actor"] if hit else None, "note": hit["content"].get("note", "") if hit else ""})
    opened = timeline[0]["content"] if timeline else {}
    return {
        **summary(row, reporter), "description": opened.get("description", ""), "timeline": timeline,
        "holds": [{"hold_id": h.hold_id, "camera": h.camera, "start": _iso(h.start), "end": _iso(h.end)} for h in holds],
        "steps": steps,
        "berita_acara": {"number": minutes.number, "at": _iso(minutes.at), "signed_by": minutes.signed_by,
                         "pdf_sha256": minutes.pdf_sha256, "key_id": minutes.key_id, "log_seq": minutes.log_seq}
        if minutes else None,
    }


async def listing(session: AsyncSession, states: Sequence[str] | None, kind: str | None, limit: int,
                  reporter: bool) -> list[dict[str, Any]]:
    """Cases: open ones first, oldest first; then closed ones, newest first."""
    open_states = [s.value for s in OPEN]
    is_open = sql_case((CaseRow.state.in_(open_states), 0), else_=1)
    query = select(CaseRow)
    if states:
        query = query.where(CaseRow.state.in_(list(states)))
    if kind is not None:
        query = query.where(CaseRow.kind == kind)
    # Open ones by age; closed ones after them (their opening time, newest first, via the sign).
    rows = (await session.execute(query.order_by(is_open, CaseRow.opened_at).limit(limit))).scalars().all()
    open_rows = [r for r in rows if r.state in open_states]
    closed = sorted((r for r in rows if r.state not in open_states), key=lambda r: r.opened_at, reverse=True)
    return [summary(r, reporter) for r in [*open_rows, *closed]]
