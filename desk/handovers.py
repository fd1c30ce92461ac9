"""Handovers (SOP steps 2 and 10): filed by the outgoing operator with the server's account of the
shift, countersigned by the incoming one. Filing closes the shift; nothing filed or accepted changes
again: a correction is an amendment, a new record pointing at the handover."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.alerting import AlertKind, Notice, Publisher
from core.clock import Clock
from core.deskconfig import DeskConfig
from core.errors import Conflict, NotFound
from core.utctime import format_utc
from core.forms import check_length
from desk.forms import AcceptanceForm, AmendmentForm, HandoverForm
from desk.models import AcceptanceRow, AmendmentRow, HandoverRow
from desk.prefill import ShiftFacts
from policy.audit.records import Actor, RecordWriter, canonical, sha256_hex
from desk.shifts import Shift
from policy.audit.entries import AccessAction

#: Renders a handover (as `Handover.as_json` shapes it) in a language to PDF bytes.
Renderer = Callable[[Mapping[str, Any], str], bytes]


class HandoverBook:
    """Files, reads, countersigns and amends handovers."""

    def __init__(
        self, db: async_sessionmaker[AsyncSession], clock: Clock, config: DeskConfig, writer: RecordWriter,
        facts: ShiftFacts, alerts: Publisher, render: Renderer,
    ) -> None:
        self._db = db
        self._clock = clock
        self._config = config
        self._writer = writer
        self._facts = facts
        self._alerts = alerts
        self._render = render
        # Filing and countersigning check, then write; in one process they must not interleave.
        self._lock = asyncio.Lock()

    async def draft(self, shift: Shift, cameras: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """What the handover of `shift` would say if filed now; nothing is stored."""
        return await self._facts.gather(shift, self._clock.now(), cameras)

    async def file(self, who: Actor, shift: Shift, form: HandoverForm, cameras: Sequence[Mapping[str, Any]],
                   closing_for: str | None = None) -> dict[str, Any]:
        """File `shift`'s handover (closing the shift); 409 when it has one. `closing_for`: the
        shift's operator, when someone else (a supervisor) closes their abandoned shift."""
        check_length(form.notes, self._config.notes_max_chars, "notes")
        async with self._lock:
            if shift.handover_id is not None or await self._of_shift(shift.id) is not None:
                raise Conflict(f"shift {shift.id} already has its handover")
            now = self._clock.now()
            facts = await self._facts.gather(shift, now, cameras, form.notes)
            content = {"kind": "handover", "id": str(uuid.uuid4()), "shift_id": shift.id, "operator": who.user,
                       "role": who.role, "filed_at": format_utc(now), "content": facts,
                       **({"closed_for": closing_for} if closing_for is not None else {})}

            def row(text: str, digest: str, seq: int) -> HandoverRow:
                return HandoverRow(id=content["id"], shift_id=shift.id, operator=who.user, filed_at=now,
                                   content=text, sha256=digest, log_seq=seq)

            await self._writer.commit(content, AccessAction.HANDOVER_FILED, who, row, details={"shift": shift.id},
                                      conflict=f"shift {shift.id} already has its handover")
        self._alerts.publish(Notice(AlertKind.HANDOVER_FILED, details={
            "operator": who.user, "shift": shift.slot or shift.id[:8], "handover": str(content["id"])}))
        return await self.get(str(content["id"]))

    async def accept(self, who: Actor, handover_id: str, form: AcceptanceForm) -> dict[str, Any]:
        """Countersign: the incoming operator accepts (with objections, if any); 409 when accepted."""
        check_length(form.objections, self._config.notes_max_chars, "objections")
        async with self._lock:
            handover = await self.get(handover_id)
            if handover["acceptance"] is not None:
                raise Conflict(f"handover {handover_id} was accepted by {handover['acceptance']['operator']} "
                               f"at {handover['acceptance']['at']}; file an amendment instead")
            now = self._clock.now()
            content = {"kind": "acceptance", "id": str(uuid.uuid4()), "handover_id": handover_id,
                       "handover_sha256": handover["sha256"], "operator": who.user, "role": who.role,
                       "at": format_utc(now), "objections": form.objections}
            accepted = {**handover, "acceptance": {**content, "sha256": _sha(content)}}
            pdf = await asyncio.to_thread(self._render, accepted, self._config.language)
            pdf_sha256 = hashlib.sha256(pdf).hexdigest()

            def row(text: str, digest: str, seq: int) -> AcceptanceRow:
                return AcceptanceRow(id=content["id"], handover_id=handover_id, operator=who.user, at=now,
                                     content=text, sha256=digest, pdf=pdf, pdf_sha256=pdf_sha256, log_seq=seq)

            await self._writer.commit(
                content, AccessAction.HANDOVER_ACCEPTED, who, row,
                details={"handover": handover_id, "handover_sha256": handover["sha256"], "pdf_sha256": pdf_sha256,
                         "objections": bool(form.objections)},
                conflict=f"handover {handover_id} is already accepted",
            )
        self._alerts.publish(Notice(AlertKind.HANDOVER_ACCEPTED, details={
            "operator": handover["operator"], "shift": handover["content"].get("slot") or handover["shift_id"][:8],
            "accepted_by": who.user, "objections": " (with objections)" if form.objections else "",
            "handover": handover_id}))
        return await self.get(handover_id)

    async def amend(self, who: Actor, handover_id: str, form: AmendmentForm) -> dict[str, Any]:
        """Add a correction or addition to a filed handover, as a new record."""
        check_length(form.text, self._config.notes_max_chars, "text")
        handover = await self.get(handover_id)
        now = self._clock.now()
        content = {"kind": "amendment", "id": str(uuid.uuid4()), "handover_id": handover_id,
                   "handover_sha256": handover["sha256"], "operator": who.user, "role": who.role,
                   "at": format_utc(now), "text": form.text}

        def row(text: str, digest: str, seq: int) -> AmendmentRow:
            return AmendmentRow(id=content["id"], handover_id=handover_id, operator=who.user, at=now, content=text,
                                sha256=digest, log_seq=seq)

        _, digest, seq = await self._writer.commit(content, AccessAction.HANDOVER_AMENDED, who, row,
                                                   details={"handover": handover_id})
        return {**content, "sha256": digest, "log_seq": seq}

    async def get(self, handover_id: str) -> dict[str, Any]:
        """A handover with its acceptance and amendments; 404 when unknown."""
        async with self._db() as session:
            row = await session.get(HandoverRow, handover_id)
            if row is None:
                raise NotFound(f"no handover {handover_id!r}")
            acceptance = (await session.execute(
                select(AcceptanceRow).where(AcceptanceRow.handover_id == handover_id))).scalar_one_or_none()
            amendments = (await session.execute(
                select(AmendmentRow).where(AmendmentRow.handover_id == handover_id).order_by(AmendmentRow.at)
            )).scalars().all()
        return _handover(row, acceptance, amendments)

    async def list(self, pending: bool | None = None, operator: str | None = None, limit: int = 100
                   ) -> list[dict[str, Any]]:
        """Handovers, newest first; `pending`: only those not yet accepted (or only accepted ones)."""
        query = select(HandoverRow, AcceptanceRow).outerjoin(AcceptanceRow, AcceptanceRow.handover_id == HandoverRow.id)
        if pending is not None:
            query = query.where(AcceptanceRow.id.is_(None) if pending else AcceptanceRow.id.is_not(None))
        if operator is not None:
            query = query.where(HandoverRow.operator == operator)
        async with self._db() as session:
            rows = (await session.execute(query.order_by(HandoverRow.filed_at.desc()).limit(limit))).all()
            ids = [h.id for h, _ in rows]
            amendments = (await session.execute(
                select(AmendmentRow).where(AmendmentRow.handover_id.in_(ids)).order_by(AmendmentRow.at)
            )).scalars().all() if ids else []
        by_handover: dict[str, list[AmendmentRow]] = {}
        for a in amendments:
            by_handover.setdefault(a.handover_id, []).append(a)
        return [_handover(h, a, by_handover.get(h.id, [])) for h, a in rows]

    async def pdf(self, handover_id: str, language: str) -> tuple[bytes, dict[str, Any]]:
        """The printed handover: the PDF stored at acceptance (byte for byte what the access log's
        entry hashes) when it is accepted, unamended and asked in the room's language; otherwise
        rendered now (a filed, unaccepted one is marked as a draft)."""
        handover = await self.get(handover_id)
        if handover["acceptance"] is not None and not handover["amendments"] and language == self._config.language:
            async with self._db() as session:
                row = (await session.execute(
                    select(AcceptanceRow).where(AcceptanceRow.handover_id == handover_id))).scalar_one()
            return row.pdf, handover
        return await asyncio.to_thread(self._render, handover, language), handover

    async def _of_shift(self, shift_id: str) -> str | None:
        async with self._db() as session:
            return (await session.execute(
                select(HandoverRow.id).where(HandoverRow.shift_id == shift_id))).scalar_one_or_none()


def _sha(content: Mapping[str, Any]) -> str:
    return sha256_hex(canonical(content))


def _handover(row: HandoverRow, acceptance: AcceptanceRow | None, amendments: Sequence[AmendmentRow]) -> dict[str, Any]:
    body = json.loads(row.content)
    accepted = None
    if acceptance is not None:
        accepted = {**json.loads(acceptance.content), "sha256": acceptance.sha256, "pdf_sha256": acceptance.pdf_sha256,
                    "log_seq": acceptance.log_seq}
    return {
        **body, "sha256": row.sha256, "log_seq": row.log_seq, "acceptance": accepted,
        "amendments": [{**json.loads(a.content), "sha256": a.sha256, "log_seq": a.log_seq} for a in amendments],
    }
