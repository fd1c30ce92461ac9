"""The berita acara tindak lanjut (follow-up minutes, SOP step 6) of a case, made when it closes.

`Minutes.make(case, number, parties, conclusion, language)` reads the sealed segments the case's
holds cover, lays the case out (`minutes_document`: facts, description, chronology, cameras and
time windows, every secured segment with its full SHA-256, actions, outcome, parties, conclusion,
the officer's and leadership's signature blocks, and the case's hash and access-log entry in every
page's footer), renders it to PDF (deterministic: the same case gives the same bytes) and signs
the bytes with the berita acara key (`cases/signing.py`). It returns (pdf, base64 signature,
key id); the case book stores all three. Anyone holding the PDF, the signature and the public key
checks it offline with `pantau verify-berita-acara FILE.pdf --signature FILE.sig`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cases.minutesparts import actions_table, chronology_table, outcome, segments_table
from cases.signing import MinutesSigner
from cases.wording import grouped, instant, local, long_date, term, words, zone_name
from core.casesconfig import CasesConfig
from core.clock import Clock, SystemClock
from core.utctime import format_utc
from recorder.models import Segment
from reports import Document, Fact, Letterhead, Section, Signature, Table, render

Case = Mapping[str, Any]


async def covered_segments(session: AsyncSession, holds: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every sealed segment of each hold's camera overlapping its [start, end), once, by camera and start."""
    found: dict[str, tuple[datetime, Segment]] = {}
    for hold in holds:
        start, end = instant(hold["start"]), instant(hold["end"])
        rows = await session.scalars(
            select(Segment).where(Segment.camera_id == hold["camera"], Segment.start < end, Segment.end > start)
        )
        for segment in rows:
            # Two holds of one camera may overlap: a segment is secured once, listed once.
            found.setdefault(segment.sha256, (segment.start, segment))
    ordered = sorted(found.values(), key=lambda item: (item[1].camera_id, item[0], item[1].id))
    return [
        {"camera": s.camera_id, "start": format_utc(s.start), "end": format_utc(s.end), "sha256": s.sha256,
         "bytes": s.bytes}
        for _, s in ordered
    ]


def minutes_document(
    case: Case,
    segments: list[dict[str, Any]],
    number: str,
    parties: list[str],
    conclusion: str,
    language: str,
    zone: ZoneInfo,
    *,
    at: datetime | None = None,
    closed_by: str | None = None,
    log_seq: int | None = None,
    config: CasesConfig | None = None,
) -> Document:
    """The berita acara of `case` as a document; `at` (default: the case's last event) dates it,
    `closed_by` signs as the officer, `log_seq` (default: the last event's) goes in the footer,
    `config` names directory contacts and playbooks."""
    say = words(language)
    timeline = list(case.get("timeline") or [])
    last = timeline[-1] if timeline else {}
    when = instant(at or case.get("closed_at") or last.get("at") or case["opened_at"])
    zone_label = zone_name(zone, when)
    t = lambda v: local(v, zone)  # noqa: E731
    kind = term(say, "kind", case["kind"])
    weekday, date, clock_time = long_date(when, zone, say)
    directory = {c.id: c for c in config.directory} if config is not None else {}
    facts = [
        Fact(say("number"), number), Fact(say("date"), f"{weekday}, {date}"), Fact(say("kind"), kind.capitalize()),
        Fact(say("case_id"), case["id"]), Fact(say("title"), case["title"]),
        Fact(say("severity"), term(say, "sev", case["severity"])),
        Fact(say("happened"), f"{t(case['at'])} {zone_label}"),
        Fact(say("opened_by"), case["opened_by"]), Fact(say("opened_at"), f"{t(case['opened_at'])} {zone_label}"),
        Fact(say("location"), case.get("location") or say("dash")),
    ]
    if case["kind"] == "complaint":
        facts += [Fact(say("category"), case.get("category") or say("dash")),
                  Fact(say("channel"), term(say, "ch", case.get("channel")))]
        # A complainant's name is personal data: printed only when the book handed it over.
        reporter = case.get("reporter") or {}
        if reporter.get("name"):
            facts.append(Fact(say("reporter"), reporter["name"]))
    if case.get("playbook"):
        playbook = next((p for p in (config.playbooks if config else []) if p.id == case["playbook"]), None)
        name = (playbook.name_id if language == "id" else playbook.name_en or playbook.name_id) if playbook else ""
        facts.append(Fact(say("playbook"), f"{name} ({case['playbook']})" if name else case["playbook"]))
    facts.append(Fact(say("cameras"), ", ".join(case.get("cameras") or []) or say("none")))
    holds = Table(
        (say("camera"), f"{say('from')} ({zone_label})", f"{say('to')} ({zone_label})"),
        tuple((h["camera"], t(h["start"]), t(h["end"])) for h in case.get("holds") or []),
        (2, 2, 2), say("windows_none"),
    )
    opening = say("opening", weekday=weekday, date=date, time=clock_time, kind=kind)
    size = grouped(sum(int(s["bytes"]) for s in segments), language)
    secured = say("segments_total", count=len(segments), size=size) if segments else say("segments_none")
    sections = (
        Section(say("s.description"), paragraphs=(opening, case.get("description") or case["title"])),
        Section(say("s.chronology"), tables=(chronology_table(case, say, zone, zone_label, directory),)),
        Section(say("s.windows"), tables=(holds,)),
        Section(say("s.segments"), paragraphs=(secured,),
                tables=(segments_table(segments, say, zone, zone_label, language),) if segments else ()),
        Section(say("s.actions"), tables=(actions_table(case, say, zone, zone_label, directory, language),)),
        Section(say("s.outcome"), paragraphs=(outcome(case) or say("dash"),)),
        Section(say("s.parties"),
                paragraphs=tuple(f"{n}. {p}" for n, p in enumerate(parties, start=1)) or (say("none"),)),
        Section(say("s.conclusion"), paragraphs=(conclusion or say("dash"), say("closing"))),
    )
    signatures = (
        Signature(say("sign.officer"), closed_by or "", f"{date}, {clock_time}"),
        Signature(say("sign.leader"), "", ""),
    )
    footer = (
        say("footer.sha", sha=last.get("sha256", say("dash"))),
        say("footer.seq", seq=log_seq if log_seq is not None else last.get("log_seq", say("dash"))),
    )
    return Document(
        title=say("minutes.title"), subtitle=say("number_line", number=number), created_at=when,
        facts=tuple(facts), sections=sections,
        signatures=signatures, footer=footer, language=language,
    )


class Minutes:
    """Makes a closing case's berita acara: segments from the index, PDF in a thread, signed."""

    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        config: CasesConfig,
        letterhead: Letterhead,
        zone: ZoneInfo,
        signer: MinutesSigner,
        *,
        clock: Clock | None = None,
    ) -> None:
        self._db = db
        self._config = config
        self._letterhead = letterhead
        self._zone = zone
        self._signer = signer
        self._clock = clock or SystemClock()

    async def make(
        self,
        case: Case,
        number: str,
        parties: list[str],
        conclusion: str,
        language: str,
        *,
        closed_by: str | None = None,
        at: datetime | None = None,
        log_seq: int | None = None,
    ) -> tuple[bytes, str, str]:
        """(PDF bytes, base64 Ed25519 signature over them, key id) of `case`'s berita acara, dated
        `at` (default now) and signed for by `closed_by`."""
        async with self._db() as session:
            segments = await covered_segments(session, case.get("holds") or [])
        document = minutes_document(
            case, segments, number, parties, conclusion, language, self._zone,
            at=at or self._clock.now(), closed_by=closed_by, log_seq=log_seq, config=self._config,
        )
        pdf = await asyncio.to_thread(render, document, self._letterhead)
        return pdf, self._signer.sign(pdf), self._signer.key_id
