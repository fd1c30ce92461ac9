"""The desk's records as printable documents (reports.Document), in Indonesian or English, with
local times of the room and the record's SHA-256 and access-log entry in every page's footer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from core.deskconfig import DeskConfig
from desk.labels import LABELS
from reports import Document, Fact, Letterhead, Section, Signature, Table, render

Doc = Mapping[str, Any]


class Printer:
    """Renders handovers, checks and patrols to PDF in the room's letterhead."""

    def __init__(self, config: DeskConfig) -> None:
        self._config = config
        self._zone = config.zone
        self._letterhead = Letterhead(config.room_name, config.room_subtitle, config.logo)

    def handover(self, handover: Doc, language: str) -> bytes:
        """A handover (with its acceptance and amendments, if any) as PDF."""
        return render(handover_document(handover, language, self._zone), self._letterhead)

    def check(self, check: Doc, language: str) -> bytes:
        """A stored check as PDF."""
        return render(check_document(check, language, self._zone), self._letterhead)

    def patrol(self, patrol: Doc, language: str) -> bytes:
        """A stored patrol as PDF."""
        return render(patrol_document(patrol, language, self._zone), self._letterhead)


def _words(language: str) -> Callable[..., str]:
    table = LABELS[language]

    def say(key: str, **values: object) -> str:
        return table[key].format(**values) if values else table[key]

    return say


def _when(text: str | None, zone: ZoneInfo, dash: str = "–") -> str:
    if not text:
        return dash
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(zone).strftime("%d-%m-%Y %H:%M:%S %Z")


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _footer(say: Callable[..., str], record: Doc) -> tuple[str, ...]:
    lines = [say("footer.sha", sha=record["sha256"]), say("footer.seq", seq=record["log_seq"])]
    acceptance = record.get("acceptance")
    if acceptance:
        lines.append(say("footer.acceptance", sha=acceptance["sha256"]))
    return tuple(lines)


def handover_document(handover: Doc, language: str, zone: ZoneInfo) -> Document:
    """The document of a handover."""
    say = _words(language)
    c = handover["content"]
    t = lambda v: _when(v, zone)  # noqa: E731
    state = lambda s: say(f"state.{s}") if s and f"state.{s}" in LABELS[language] else (s or say("dash"))  # noqa: E731
    acceptance = handover.get("acceptance")
    status = say("accepted_by", who=acceptance["operator"], when=t(acceptance["at"])) if acceptance else say("pending")
    facts = (
        Fact(say("record"), handover["id"]), Fact(say("shift"), c.get("slot") or say("adhoc")),
        Fact(say("period"), f"{t(c['period']['start'])} – {t(c['period']['end'])}"),
        Fact(say("operator"), handover["operator"]), Fact(say("filed"), t(handover["filed_at"])),
        Fact(say("status"), status),
    )

    def outage_text(o: Doc) -> str:
        end = say("ongoing") if o["ongoing"] else t(o["end"])
        extra = ", ".join(o.get("problems") or []) or o.get("reason") or ""
        return f"{state(o['state'])} {t(o['start'])} – {end} ({_duration(o['seconds'])}){': ' + extra if extra else ''}"

    cameras = Table(
        (say("camera"), say("state_now"), say("outages")),
        tuple((f"{r['name']} ({r['camera']})", state(r["state_now"]), "\n".join(outage_text(o) for o in r["outages"])
               or say("none")) for r in c["cameras"]),
        (3, 2, 7), say("none"))
    gaps = Table(
        (say("camera"), say("from"), say("to"), say("duration"), say("reason")),
        tuple((g["camera"], t(g["start"]), say("ongoing") if g["ongoing"] else t(g["end"]), _duration(g["seconds"]),
               g["reason"]) for g in c["recording_gaps"]),
        (2, 3, 3, 1.5, 3), say("none"))
    alerts = Table(
        (say("at"), say("kind"), say("camera"), say("summary")),
        tuple((t(a["at"]), a["kind"], a["camera"] or say("dash"), a["summary"].get(language, "")) for a in c["alerts"]),
        (3, 2.2, 2, 6), say("none"))
    alert_notes = (say("alerts_more", shown=len(c["alerts"]), total=c["alerts_total"]),) \
        if c["alerts_total"] > len(c["alerts"]) else ()
    holds = Table(
        (say("camera"), say("from"), say("to"), say("reason"), say("owner")),
        tuple((h["camera"], t(h["start"]), t(h["end"]), h["reason"], h["owner"]) for h in c["open_holds"]),
        (2, 3, 3, 4, 2), say("none"))

    bookmarks = Table(
        (say("camera"), say("moment"), say("note"), say("owner"), "SHA-256"),
        tuple((b["camera"], t(b["start"]) + (f" – {t(b['end'])}" if b["end"] else ""), b["note"], b["author"],
               b["sha256"][:16]) for b in c.get("bookmarks", [])),
        (2, 4, 5, 2, 3), say("none"))

    def disposition_rows(items: list[Doc]) -> tuple[tuple[str, ...], ...]:
        return tuple((d["token_id"], d["party"], d["letter_number"], ", ".join(d["cameras"]),
                      f"{d['views_used']}/{d['max_views']}") for d in items)

    disp_cols = ("ID", say("party"), say("letter"), say("camera"), say("views"))
    patrols = c["patrols"]
    done = Table(
        (say("from"), say("to"), say("acknowledged"), say("skipped"), say("reports")),
        tuple((t(p["started_at"]), t(p["ended_at"]), ", ".join(p["acknowledged"]) or say("none"),
               ", ".join(p["skipped"]) or say("none"),
               "\n".join(f"{r['camera']}: {r['report']}" for r in p["reports"]) or say("none"))
              for p in patrols["done"]),
        (3, 3, 3, 3, 4), say("none"))
    missed = Table((say("from"), say("to")), tuple((t(m["start"]), t(m["end"])) for m in patrols["missed"]),
                   (1, 1), say("none"))
    checks = Table(
        (say("at"), say("not_checked"), say("not_ok"), say("remarks")),
        tuple((t(k["at"]), ", ".join(k["not_checked"]) or say("none"),
               ", ".join(n["camera"] for n in k["not_ok"]) or say("none"),
               "\n".join(f"{r['camera']}: {r['remark']}" for r in k["remarks"]) or say("none")) for k in c["checks"]),
        (3, 3, 3, 5), say("none"))
    equipment = Table(
        (say("equipment"), say("at"), say("probe"), say("remarks")),
        tuple((f"{e['name']} ({e['id']})", t(e["at"]), (e["probe"] or {}).get("detail", say("dash")),
               e["remark"] or say("dash")) for e in c["equipment_problems"]),
        (3, 3, 4, 4), say("none"))
    sections = [
        Section(say("cameras"), tables=(cameras,)),
        Section(say("gaps"), tables=(gaps,)),
        Section(say("alerts"), paragraphs=alert_notes, tables=(alerts,)),
        Section(say("holds"), tables=(holds,)),
        Section(say("bookmarks"), tables=(bookmarks,)),
        Section(say("dispositions"), paragraphs=(say("issued"),), tables=(
            Table(disp_cols, disposition_rows(c["dispositions"]["issued"]), (3, 4, 3, 3, 2), say("none")),)),
        Section(say("dispositions") + " – " + say("used"), tables=(
            Table(disp_cols, disposition_rows(c["dispositions"]["used"]), (3, 4, 3, 3, 2), say("none")),)),
        Section(say("patrols_done"), paragraphs=(say("interval", minutes=f"{patrols['interval_min']:g}"),),
                tables=(done,)),
        Section(say("patrols_missed"), tables=(missed,)),
        Section(say("checks"), tables=(checks,)),
        Section(say("equipment_problems"), tables=(equipment,)),
        Section(say("notes"), paragraphs=(c["notes"] or say("none"),)),
    ]
    if acceptance and acceptance.get("objections"):
        sections.append(Section(say("objections"), paragraphs=(acceptance["objections"],)))
    if handover.get("amendments"):
        sections.append(Section(say("amendments"), tables=(Table(
            (say("at"), say("by"), say("text"), "SHA-256"),
            tuple((t(a["at"]), a["operator"], a["text"], a["sha256"][:16] + "…") for a in handover["amendments"]),
            (3, 2, 7, 3)),)))
    signatures = (
        Signature(say("sign.out"), handover["operator"], t(handover["filed_at"])),
        Signature(say("sign.in"), acceptance["operator"] if acceptance else "", t(acceptance["at"]) if acceptance else "",
                  say("objections") if acceptance and acceptance.get("objections") else ""),
    )
    return Document(
        title=say("handover.title"), subtitle=f"{c.get('slot') or say('adhoc')} · {t(c['period']['start'])}",
        created_at=_instant(acceptance["at"] if acceptance else handover["filed_at"]), facts=facts,
        sections=tuple(sections), signatures=signatures, footer=_footer(say, handover),
        watermark=None if acceptance else say("draft"), language=language,
    )


def check_document(check: Doc, language: str, zone: ZoneInfo) -> Document:
    """The document of a camera and equipment check."""
    say = _words(language)
    t = lambda v: _when(v, zone)  # noqa: E731
    yes_no = lambda v: say("dash") if v is None else say("yes") if v else say("no")  # noqa: E731

    def figures(stats: Doc | None) -> str:
        s = stats or {}
        size = f"{s['width']}×{s['height']}" if s.get("width") and s.get("height") else say("dash")
        fps = f"{s['fps']:.1f} fps" if s.get("fps") else say("dash")
        rate = f"{s['bitrate_bps'] / 1e6:.2f} Mbit/s" if s.get("bitrate_bps") else say("dash")
        if not s.get("codec"):
            return say("dash")
        return f"{s['codec']} {size} {fps} {rate}"

    cameras = Table(
        (say("camera"), say("state"), say("since"), say("figures"), say("checked"), say("ok"), say("remarks")),
        tuple((f"{c['name']} ({c['camera']})", say(f"state.{c['state']}") if f"state.{c['state']}" in LABELS[language]
               else str(c["state"]), t(c["since"]), figures(c.get("stats")), yes_no(c["checked"]), yes_no(c["ok"]),
               c["remark"] or say("dash")) for c in check["cameras"]),
        (2.8, 2, 2.5, 3, 1.7, 1.1, 2.9), say("none"))
    equipment = Table(
        (say("equipment"), say("kind"), say("probe"), say("checked"), say("ok"), say("remarks")),
        tuple((f"{e['name']} ({e['id']})", e["kind"],
               (("✓ " if e["probe"]["ok"] else "✗ ") + e["probe"]["detail"]) if e.get("probe") else say("dash"),
               yes_no(e["checked"]), yes_no(e["ok"]), e["remark"] or say("dash")) for e in check["equipment"]),
        (3, 1.6, 3.6, 1.7, 1.1, 3), say("none"))
    return Document(
        title=say("check.title"), subtitle=t(check["at"]), created_at=_instant(check["at"]),
        facts=(Fact(say("record"), check["id"]), Fact(say("operator"), check["operator"]), Fact(say("at"), t(check["at"]))),
        sections=(Section(say("camera"), tables=(cameras,)), Section(say("equipment"), tables=(equipment,)),
                  Section(say("notes"), paragraphs=(check["notes"] or say("none"),))),
        signatures=(Signature(say("sign.officer"), check["operator"], t(check["at"])),),
        footer=_footer(say, check), language=language,
    )


def patrol_document(patrol: Doc, language: str, zone: ZoneInfo) -> Document:
    """The document of a patrol."""
    say = _words(language)
    t = lambda v: _when(v, zone)  # noqa: E731
    yes_no = lambda v: say("yes") if v else say("no")  # noqa: E731
    stops = Table(
        (say("camera"), say("shown"), say("acknowledged"), say("skipped"), say("state"), say("reports")),
        tuple((f"{c['name']} ({c['camera']})", f"{c['shown_s']:.1f}", yes_no(c["acknowledged"]), yes_no(c["skipped"]),
               say(f"state.{c['state']}") if f"state.{c['state']}" in LABELS[language] else str(c["state"]),
               c["report"] or say("dash")) for c in patrol["cameras"]),
        (3.5, 1.8, 1.8, 1.5, 1.8, 4), say("none"))
    return Document(
        title=say("patrol.title"), subtitle=f"{t(patrol['started_at'])} – {t(patrol['ended_at'])}",
        created_at=_instant(patrol["recorded_at"]),
        facts=(Fact(say("record"), patrol["id"]), Fact(say("operator"), patrol["operator"]),
               Fact(say("period"), f"{t(patrol['started_at'])} – {t(patrol['ended_at'])}"),
               Fact(say("group"), patrol["group"] or say("all_groups"))),
        sections=(Section(say("patrols"), tables=(stops,)),),
        signatures=(Signature(say("sign.officer"), patrol["operator"], t(patrol["recorded_at"])),),
        footer=_footer(say, patrol), language=language,
    )


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
