"""The case book: opens cases, moves them through their lifecycle, and reads them back. Every
change is an event (canonical JSON, hashed, in the access log, insert-only) written in the same
transaction as the case's new state; a closed case changes no more (the database refuses it too)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cases import caseview
from cases.forms import Amendment, Closure, FollowUp, Forward, Note, OpenCase, Resolution
from cases.lifecycle import OPEN, Event, State, next_state
from cases.models import BeritaAcaraRow, CaseHoldRow, CaseRow
from core.alerting import AlertKind, Notice, Publisher, Scalar
from core.casesconfig import CasesConfig, Playbook
from core.clock import Clock
from core.errors import BadRequest, Conflict, NotFound
from core.forms import check_length
from core.utctime import format_utc
from policy.audit.entries import AccessAction
from policy.audit.records import Actor, RecordWriter
from recorder.holds import HoldStore

SYSTEM = Actor("system", None, None)
KIND_WORDS = {"incident": ("incident", "Kejadian"), "complaint": ("complaint", "Pengaduan"),
              "emergency": ("emergency", "Keadaan darurat")}
ACTIONS = {
    Event.OPENED: AccessAction.CASE_OPENED, Event.ACKNOWLEDGED: AccessAction.CASE_ACKNOWLEDGED,
    Event.ESCALATED: AccessAction.CASE_ESCALATED, Event.FORWARDED: AccessAction.CASE_FORWARDED,
    Event.FOLLOWED_UP: AccessAction.CASE_FOLLOWED_UP, Event.STEP_DONE: AccessAction.CASE_STEP_DONE,
    Event.HOLD_PLACED: AccessAction.CASE_HOLD_PLACED, Event.TRIGGERED: AccessAction.CASE_TRIGGERED,
    Event.SNAPSHOT: AccessAction.CASE_SNAPSHOT,
    Event.RESOLVED: AccessAction.CASE_RESOLVED, Event.CLOSED: AccessAction.CASE_CLOSED,
    Event.AMENDED: AccessAction.CASE_AMENDED,
}


class MinutesMaker(Protocol):
    """Renders and signs a closed case's berita acara: (pdf, base64 signature, key id)."""

    async def make(self, case: dict[str, Any], number: str, parties: list[str], conclusion: str,
                   language: str, *, closed_by: str | None = None, at: datetime | None = None
                   ) -> tuple[bytes, str, str]: ...


class Numberer(Protocol):
    """Gives the next berita acara number in the session's transaction."""

    async def __call__(self, session: AsyncSession, when: datetime) -> str: ...



def _write_read_only(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as fh:  # never over an earlier picture
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    path.chmod(0o400)


class CaseBook:
    """Incidents, complaints and emergencies through one lifecycle."""

    def __init__(
        self, db: async_sessionmaker[AsyncSession], clock: Clock, config: CasesConfig, writer: RecordWriter,
        holds: HoldStore, alerts: Publisher, minutes: MinutesMaker, numberer: Numberer,
        cameras_of_groups: Callable[[Sequence[str]], list[str]], snapshot_dir: Path,
    ) -> None:
        self._db = db
        self._clock = clock
        self.config = config
        self._writer = writer
        self._holds = holds
        self._alerts = alerts
        self._minutes = minutes
        self._numberer = numberer
        self._cameras_of_groups = cameras_of_groups
        self.snapshot_dir = snapshot_dir
        self.playbooks = {p.id: p for p in config.playbooks}
        # Transitions of one case, and emergencies of one playbook, must not interleave. A lock lives
        # while someone holds or waits for it, so the map does not grow with every case ever touched.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def playbook_cameras(self, playbook: Playbook) -> list[str]:
        """The cameras a playbook puts on the wall: its own and its groups'."""
        return list(dict.fromkeys([*playbook.cameras, *self._cameras_of_groups(playbook.groups)]))

    # -- opening -----------------------------------------------------------------------------

    async def open(self, who: Actor, form: OpenCase, visible: Mapping[str, str], source: str = "api") -> dict[str, Any]:
        """Open a case; `visible` are the cameras the opener may name (id -> name)."""
        cfg = self.config
        check_length(form.description, cfg.text_max_chars, "description")
        for i, cam in enumerate(form.cameras):
            if cam not in visible:
                raise BadRequest(f"cameras[{i}]: no camera {cam!r}")
        if form.category is not None and form.kind == "complaint" and form.category not in cfg.categories:
            raise BadRequest(f"category: {form.category!r} is not one of cases.categories")
        playbook = None
        if form.playbook is not None:
            playbook = self.playbooks.get(form.playbook)
            if playbook is None:
                raise BadRequest(f"playbook: no playbook {form.playbook!r} in cases.playbooks")
        cameras = list(form.cameras) or (self.playbook_cameras(playbook) if playbook else [])
        return await self._open(who, form, cameras, playbook, source, {})

    async def open_emergency(self, playbook_id: str, source: str, details: Mapping[str, Scalar]
                             ) -> tuple[dict[str, Any], bool]:
        """Open the playbook's emergency, or join a trigger to its case opened within `dedup_s`:
        (case, created)."""
        playbook = self.playbooks.get(playbook_id)
        if playbook is None:
            raise NotFound(f"no playbook {playbook_id!r}")
        async with self._lock(f"playbook:{playbook_id}"):
            recent = await self._recent_emergency(playbook)
            if recent is not None:
                await self._event(SYSTEM, recent, Event.TRIGGERED, {"source": source, **details})
                return await self.get(recent), False
            form = OpenCase(kind="emergency", title=playbook.name_id, severity="critical", playbook=playbook.id,
                            description=str(details.get("note") or ""), location=str(details.get("location") or ""))
            case = await self._open(Actor(f"trigger:{source}"), form, self.playbook_cameras(playbook), playbook,
                                    f"trigger:{source}", details)
            return case, True

    async def _recent_emergency(self, playbook: Playbook) -> str | None:
        since = self._clock.now() - timedelta(seconds=playbook.dedup_s)
        async with self._db() as session:
            return (await session.execute(
                select(CaseRow.id).where(CaseRow.playbook == playbook.id, CaseRow.state != State.CLOSED.value,
                                         CaseRow.opened_at >= since).order_by(CaseRow.opened_at.desc()).limit(1)
            )).scalar_one_or_none()

    async def _open(self, who: Actor, form: OpenCase, cameras: list[str], playbook: Playbook | None, source: str,
                    details: Mapping[str, Scalar]) -> dict[str, Any]:
        now = self._clock.now()
        case_id = str(uuid.uuid4())
        at = form.at or now
        reporter = form.reporter if form.reporter and (form.reporter.name or form.reporter.contact) else None
        content: dict[str, Any] = {
            **form.model_dump(mode="json", exclude={"reporter", "kind"}), "case_kind": form.kind, "at": format_utc(at),
            "cameras": cameras,
            "source": source, **({"trigger": dict(details)} if details else {}),
        }
        if reporter is not None:
            # The events carry a commitment to the personal data, never the data itself.
            content["reporter_sha256"] = hashlib.sha256(f"{reporter.name}\n{reporter.contact}".encode()).hexdigest()
        row = CaseRow(
            id=case_id, kind=form.kind, state=State.OPENED.value, severity=form.severity, title=form.title, at=at,
            cameras=",".join(cameras), playbook=playbook.id if playbook else None, category=form.category,
            channel=form.channel, location=form.location,
            reporter_name=reporter.name if reporter else None, reporter_contact=reporter.contact if reporter else None,
            opened_at=now, opened_by=who.user, escalations=0, updated_at=now,
        )

        async def insert(session: AsyncSession, seq: int) -> None:
            session.add(row)
            await session.flush()  # the case row before the event that refers to it

        await self._writer.commit(self._event_content(case_id, Event.OPENED, who, now, content), ACTIONS[Event.OPENED],
                                  who, caseview.event_row(case_id, Event.OPENED, who, now), also=insert,
                                  details={"case": case_id, "kind": form.kind})
        await self._hold_cameras(case_id, who, cameras, at, form)
        self._publish(AlertKind.CASE_OPENED, row, who.user)
        return await self.get(case_id)

    async def _hold_cameras(self, case_id: str, who: Actor, cameras: list[str], at: datetime, form: OpenCase) -> None:
        if form.window_start is not None and form.window_end is not None:
            start, end = form.window_start, form.window_end
        elif form.kind == "complaint":
            return  # a complaint holds recordings only when it names a window
        else:
            start = at - timedelta(minutes=self.config.hold_before_min)
            end = at + timedelta(minutes=self.config.hold_after_min)
        await self.place_holds(case_id, who, cameras, start, end)

    async def place_holds(self, case_id: str, who: Actor, cameras: Sequence[str], start: datetime, end: datetime) -> None:
        """Hold each camera's recordings in [start, end) for the case, and record that it did."""
        if not cameras:
            return
        placed = []
        for camera in cameras:
            hold = await self._holds.place(camera, start, end, f"case {case_id}", who.user)
            placed.append(CaseHoldRow(case_id=case_id, hold_id=hold.id, camera=camera, start=start, end=end))
        holds = [{"hold_id": h.hold_id, "camera": h.camera, "start": format_utc(start), "end": format_utc(end)}
                 for h in placed]

        async def link(session: AsyncSession, seq: int) -> None:
            session.add_all(placed)

        await self._event(who, case_id, Event.HOLD_PLACED, {"holds": holds}, also=link)

    async def keep_snapshots(self, who: Actor, case_id: str, pictures: Mapping[str, bytes]) -> None:
        """Keep the cameras' pictures with the case (read-only files under `snapshot_dir`), their
        SHA-256 in the case's timeline."""
        if not pictures:
            return
        folder = self.snapshot_dir / case_id
        taken = []
        for camera, jpeg in pictures.items():
            name = f"{camera}.jpg"
            await asyncio.to_thread(_write_read_only, folder / name, jpeg)
            taken.append({"camera": camera, "file": name, "sha256": hashlib.sha256(jpeg).hexdigest(), "bytes": len(jpeg)})
        await self._event(who, case_id, Event.SNAPSHOT, {"snapshots": taken})

    async def attach_snapshot(
        self, who: Actor, case_id: str, shot: Mapping[str, Any],
        also: Callable[[AsyncSession, int], Awaitable[None]],
    ) -> None:
        """Attach a stored snapshot (its id, camera, moment and SHA-256) to the case's timeline;
        `also(session, seq)` marks it attached in the same transaction."""
        await self._event(who, case_id, Event.SNAPSHOT, {"snapshots": [dict(shot)]}, also=also)

    def snapshot_path(self, case_id: str, camera: str) -> Path:
        """Where a case's picture of `camera` is kept (it may not exist)."""
        return self.snapshot_dir / case_id / f"{camera}.jpg"

    # -- transitions -------------------------------------------------------------------------

    async def acknowledge(self, who: Actor, case_id: str, form: Note) -> dict[str, Any]:
        """Someone takes the case (it stops escalating)."""
        case = await self._event(who, case_id, Event.ACKNOWLEDGED, {"note": form.note}, stamp="acknowledged_at")
        self._publish(AlertKind.CASE_ACKNOWLEDGED, case, who.user)
        return await self.get(case_id)

    async def forward(self, who: Actor, case_id: str, form: Forward) -> dict[str, Any]:
        """Forward to an agency or officer (from the directory, or named)."""
        contacts = {c.id: c for c in self.config.directory}
        if form.to is not None and form.to not in contacts:
            raise BadRequest(f"to: no contact {form.to!r} in cases.directory")
        name = contacts[form.to].name if form.to is not None else form.name
        await self._event(who, case_id, Event.FORWARDED, {
            "to": form.to, "name": name, "channel": form.channel, "at": format_utc(form.at or self._clock.now()),
            "note": form.note}, stamp="forwarded_at")
        return await self.get(case_id)

    async def follow_up(self, who: Actor, case_id: str, form: FollowUp) -> dict[str, Any]:
        """Record an action taken."""
        check_length(form.action, self.config.text_max_chars, "action")
        await self._event(who, case_id, Event.FOLLOWED_UP,
                          {"action": form.action, "at": format_utc(form.at or self._clock.now())})
        return await self.get(case_id)

    async def step_done(self, who: Actor, case_id: str, step: str, form: Note) -> dict[str, Any]:
        """Check off a step of the emergency's playbook (once)."""
        case = await self.get(case_id)
        steps = {s["id"]: s for s in case["steps"]}
        if step not in steps:
            raise NotFound(f"case {case_id} has no step {step!r}")
        if steps[step]["done_at"] is not None:
            raise Conflict(f"step {step!r} was checked off by {steps[step]['done_by']} at {steps[step]['done_at']}")
        await self._event(who, case_id, Event.STEP_DONE, {"step": step, "note": form.note})
        return await self.get(case_id)

    async def resolve(self, who: Actor, case_id: str, form: Resolution) -> dict[str, Any]:
        """Record the outcome."""
        check_length(form.outcome, self.config.text_max_chars, "outcome")
        await self._event(who, case_id, Event.RESOLVED, {"outcome": form.outcome}, stamp="resolved_at")
        return await self.get(case_id)

    async def close(self, who: Actor, case_id: str, form: Closure) -> dict[str, Any]:
        """Close with the berita acara: numbered, rendered, signed and stored with the closing event."""
        check_length(form.conclusion, self.config.text_max_chars, "conclusion")
        async with self._lock(case_id):
            case = await self.get(case_id, reporter=True)
            next_state(State(case["state"]), Event.CLOSED)
            now = self._clock.now()
            async with self._db() as session:
                number = await self._numberer(session, now)
                await session.commit()
            pdf, signature, key_id = await self._minutes.make(case, number, form.parties, form.conclusion,
                                                              form.language, closed_by=who.user, at=now)
            pdf_sha256 = hashlib.sha256(pdf).hexdigest()
            content = {"number": number, "parties": form.parties, "conclusion": form.conclusion,
                       "pdf_sha256": pdf_sha256, "key_id": key_id, "signature": signature}

            async def minutes(session: AsyncSession, seq: int) -> None:
                row = await session.get(CaseRow, case_id)
                assert row is not None
                row.number = number
                session.add(BeritaAcaraRow(case_id=case_id, number=number, at=now, signed_by=who.user, pdf=pdf,
                                           pdf_sha256=pdf_sha256, signature=signature, key_id=key_id, log_seq=seq))

            row = await self._event(who, case_id, Event.CLOSED, content, stamp="closed_at", also=minutes, locked=True)
        self._publish(AlertKind.CASE_CLOSED, row, who.user, number=number)
        return await self.get(case_id)

    async def amend(self, who: Actor, case_id: str, form: Amendment) -> dict[str, Any]:
        """Add a correction or addition; the only change a closed case takes."""
        check_length(form.text, self.config.text_max_chars, "text")
        await self._event(who, case_id, Event.AMENDED, {"text": form.text})
        return await self.get(case_id)

    async def escalate(self, case_id: str, waited_s: float) -> None:
        """Mark an unacknowledged case escalated and tell the room again."""
        row = await self._event(SYSTEM, case_id, Event.ESCALATED, {"waited_s": round(waited_s)}, escalate=True)
        self._publish(AlertKind.CASE_ESCALATED, row, "system", waited_s=round(waited_s), escalations=row.escalations)

    # -- the one way a case changes ----------------------------------------------------------

    def _event_content(self, case_id: str, event: Event, who: Actor, now: datetime, fields: Mapping[str, Any]
                       ) -> dict[str, Any]:
        return {"kind": f"case_{event.value}", "id": str(uuid.uuid4()), "case": case_id, "event": event.value,
                "actor": who.user, "role": who.role, "at": format_utc(now), **fields}

    async def _event(
        self, who: Actor, case_id: str, event: Event, fields: Mapping[str, Any], *, stamp: str | None = None,
        also: Callable[[AsyncSession, int], Any] | None = None, escalate: bool = False, locked: bool = False,
    ) -> CaseRow:
        if not locked:
            async with self._lock(case_id):
                return await self._event(who, case_id, event, fields, stamp=stamp, also=also, escalate=escalate,
                                         locked=True)
        now = self._clock.now()
        async with self._db() as session:
            current = await session.get(CaseRow, case_id)
        if current is None:
            raise NotFound(f"no case {case_id!r}")
        after = next_state(State(current.state), event)
        content = self._event_content(case_id, event, who, now, fields)
        changed: list[CaseRow] = []

        async def apply(session: AsyncSession, seq: int) -> None:
            row = await session.get(CaseRow, case_id)
            assert row is not None
            if row.state != current.state:
                raise Conflict(f"case {case_id} changed meanwhile; try again")
            if row.state == State.CLOSED.value:
                changed.append(row)
                return  # an amendment: the closed case's row is never touched (the database refuses it)
            row.state = after.value
            row.updated_at = now
            if stamp is not None and getattr(row, stamp) is None:
                setattr(row, stamp, now)
            if escalate:
                row.escalations += 1
                row.last_escalated_at = now
            if also is not None:
                await also(session, seq)
            changed.append(row)

        await self._writer.commit(content, ACTIONS[event], who, caseview.event_row(case_id, event, who, now),
                                  details={"case": case_id, "event": event.value}, also=apply)
        return changed[0]

    def _publish(self, kind: AlertKind, row: CaseRow, by: str, **extra: Scalar) -> None:
        en, id_ = KIND_WORDS[row.kind]
        self._alerts.publish(Notice(kind, details={
            "case": row.id, "kind": row.kind, "kind_en": en, "kind_id": id_, "title": row.title,
            "severity": row.severity, "by": by, "cameras": row.cameras, "playbook": row.playbook, **extra}))

    # -- reading -----------------------------------------------------------------------------

    async def get(self, case_id: str, reporter: bool = False) -> dict[str, Any]:
        """A case with its timeline, holds, steps and minutes; the reporter only when `reporter`."""
        async with self._db() as session:
            return await caseview.read(session, case_id, reporter, self.playbooks, self.config.directory)

    async def find(self, states: Sequence[str] | None = None, kind: str | None = None, limit: int = 200,
                   reporter: bool = False) -> list[dict[str, Any]]:
        """Cases without their timelines: open ones first (oldest first), then the rest (newest first)."""
        async with self._db() as session:
            return await caseview.listing(session, states, kind, limit, reporter)

    async def open_cases(self) -> list[CaseRow]:
        """Every case not closed (for the watch)."""
        async with self._db() as session:
            return list((await session.execute(
                select(CaseRow).where(CaseRow.state.in_([s.value for s in OPEN])))).scalars().all())

    async def minutes(self, case_id: str) -> BeritaAcaraRow:
        """The stored berita acara of a closed case; 404 before it is closed."""
        async with self._db() as session:
            row = await session.get(BeritaAcaraRow, case_id)
        if row is None:
            raise NotFound(f"case {case_id!r} has no berita acara yet (it is made when the case is closed)")
        return row
