"""The berita acara's tables: the chronology, the secured recordings and the actions taken."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from cases.wording import Say, grouped, instant, local, term
from core.casesconfig import Contact
from reports import Table

Case = Mapping[str, Any]
Directory = Mapping[str, Contact]

#: A full SHA-256 in the table's 9 pt DejaVu Sans is about 129 mm at worst (all digits): its column
#: takes 133 of the page's 170 mm so every hash prints on one line, whole, as it can be compared.
SEGMENT_WIDTHS = (37.0, 133.0)
ACTIONS = ("forwarded", "followed_up", "step_done")


def chronology_table(case: Case, say: Say, zone: ZoneInfo, zone_label: str, directory: Directory) -> Table:
    """Every event of the timeline: local time, what happened in words, by whom, its details."""
    rows = tuple(
        (local(e["at"], zone), term(say, "e", e["kind"]), e["actor"], _details(e, case, say, zone, directory))
        for e in case.get("timeline") or []
    )
    return Table((f"{say('time')} ({zone_label})", say("event"), say("by"), say("details")), rows,
                 (2.6, 2.6, 1.9, 4.9), say("none"))


def segments_table(segments: list[dict[str, Any]], say: Say, zone: ZoneInfo, zone_label: str, language: str) -> Table:
    """Every secured segment: camera, local span and size beside its SHA-256 in full."""
    rows = []
    for n, s in enumerate(segments, start=1):
        start, end = instant(s["start"]).astimezone(zone), instant(s["end"]).astimezone(zone)
        span = f"{start:%H:%M:%S}–{end:%H:%M:%S}" if start.date() == end.date() \
            else f"{start:%H:%M:%S}–\n{end:%d-%m-%Y %H:%M:%S}"
        size = say("bytes", size=grouped(int(s["bytes"]), language))
        rows.append((f"{n}. {s['camera']}\n{start:%d-%m-%Y}\n{span}\n{size}", s["sha256"]))
    return Table((say("recording", zone=zone_label), "SHA-256"), tuple(rows), SEGMENT_WIDTHS)


def actions_table(case: Case, say: Say, zone: ZoneInfo, zone_label: str, directory: Directory, language: str) -> Table:
    """Forwards (to whom, by which channel), follow-ups and procedure steps done, in order."""
    rows = []
    for e in case.get("timeline") or []:
        if e["kind"] not in ACTIONS:
            continue
        c = e["content"]
        when = local(c.get("at") or e["at"], zone)
        if e["kind"] == "forwarded":
            rows.append((when, say("a.forwarded"), _whom(c, say, directory), c.get("note") or say("dash"), e["actor"]))
        elif e["kind"] == "followed_up":
            rows.append((when, say("a.followed_up"), say("dash"), c.get("action") or say("dash"), e["actor"]))
        else:
            step = _step(case, c.get("step"))
            text = (step.get("text_id") if language == "id" else step.get("text_en") or step.get("text_id")) or ""
            who = step.get("contact") or {}
            contact = ", ".join(str(v) for v in (who.get("name"), who.get("phone")) if v) or say("dash")
            rows.append((when, say("a.step"), contact, _lines(text or c.get("step"), c.get("note")) or say("dash"),
                         e["actor"]))
    return Table((f"{say('time')} ({zone_label})", say("action"), say("whom"), say("details"), say("by")),
                 tuple(rows), (2.7, 1.9, 3.3, 3.2, 1.3), say("none"))


def outcome(case: Case) -> str:
    """The outcome the case was resolved with (the last resolution, if it was reopened by amendment)."""
    resolved = [e for e in case.get("timeline") or [] if e["kind"] == "resolved"]
    return str(resolved[-1]["content"].get("outcome", "")) if resolved else ""


def _details(event: Mapping[str, Any], case: Case, say: Say, zone: ZoneInfo, directory: Directory) -> str:
    c: Mapping[str, Any] = event.get("content") or {}
    kind = event["kind"]
    if kind == "opened":
        source = c.get("source")
        return say("source", source=source) if source and source != "api" else say("dash")
    if kind == "escalated":
        return say("waited", minutes=f"{float(c.get('waited_s', 0)) / 60:.0f}", count=c.get("escalations", "?"))
    if kind == "forwarded":
        return _lines(_whom(c, say, directory), c.get("note")) or say("dash")
    if kind == "hold_placed":
        return "\n".join(f"{h['camera']}: {local(h['start'], zone)} – {local(h['end'], zone)}"
                         for h in c.get("holds") or []) or say("dash")
    if kind == "step_done":
        step = _step(case, c.get("step"))
        return _lines(step.get("text_id") or c.get("step"), c.get("note")) or say("dash")
    if kind == "closed":
        return _lines(c.get("number"), c.get("conclusion")) or say("dash")
    for key in ("note", "action", "outcome", "text"):
        if c.get(key):
            return str(c[key])
    # An event kind this printer does not know yet: its fields as they are, rather than nothing.
    return "; ".join(f"{k}: {v}" for k, v in sorted(c.items()) if v not in (None, "", [])) or say("dash")


def _whom(content: Mapping[str, Any], say: Say, directory: Directory) -> str:
    channel = content.get("channel")
    contact = directory.get(content.get("to") or "")
    name = content.get("name") or (contact.name if contact else "") or content.get("to") or say("dash")
    # The number or address used, when the directory has one for the channel the forward went by.
    reach = getattr(contact, channel, "") if contact is not None and channel in ("phone", "radio", "email") else ""
    return f"{name}{f', {reach}' if reach else ''}\n{say('via', channel=term(say, 'ch', channel))}"


def _step(case: Case, step_id: object) -> Mapping[str, Any]:
    return next((s for s in case.get("steps") or [] if s.get("id") == step_id), {})


def _lines(*parts: object) -> str:
    return "\n".join(str(p) for p in parts if p)
