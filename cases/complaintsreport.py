"""The periodic complaints report (SOP: "data and reports of how each complaint was resolved are
kept"): every complaint opened in a local month, how long it took to forward and to resolve, and
totals per category, as a dict (JSON), as CSV and as a printable document.

`month_report(session, year, month, zone)` reads `cases`; `as_csv(report)` and
`report_document(report, language, zone)` only lay it out. No reporter's name or contact is read,
so none can leak into a report that leaves the room (UU PDP 27/2022).
"""

from __future__ import annotations

import csv
import hashlib
import io
import statistics
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cases.models import CaseRow
from cases.wording import instant, local, term, words, zone_name
from core.utctime import format_utc
from reports import Document, Fact, Section, Table

CSV_COLUMNS = ("id", "opened_at", "category", "channel", "location", "state", "forwarded_at", "resolved_at",
               "minutes_to_forward", "minutes_to_resolve")

Report = dict[str, Any]


def month_bounds(year: int, month: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The local month [start, end) as UTC instants."""
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    return instant(start), instant(end)


async def month_report(session: AsyncSession, year: int, month: int, zone: ZoneInfo) -> Report:
    """Complaints opened in the local month, oldest first, with totals per category and overall."""
    start, end = month_bounds(year, month, zone)
    rows = (await session.execute(
        select(CaseRow.id, CaseRow.opened_at, CaseRow.category, CaseRow.channel, CaseRow.location, CaseRow.state,
               CaseRow.forwarded_at, CaseRow.resolved_at)
        .where(CaseRow.kind == "complaint", CaseRow.opened_at >= start, CaseRow.opened_at < end)
        .order_by(CaseRow.opened_at, CaseRow.id)
    )).all()
    # Totals from the exact durations; the rows carry them rounded to a tenth of a minute.
    exact = {r.id: (_minutes(r.opened_at, r.forwarded_at), _minutes(r.opened_at, r.resolved_at)) for r in rows}
    complaints = [
        {"id": r.id, "opened_at": format_utc(r.opened_at), "category": r.category, "channel": r.channel,
         "location": r.location, "state": r.state,
         "forwarded_at": format_utc(r.forwarded_at) if r.forwarded_at else None,
         "resolved_at": format_utc(r.resolved_at) if r.resolved_at else None,
         "minutes_to_forward": _round(exact[r.id][0]), "minutes_to_resolve": _round(exact[r.id][1])}
        for r in rows
    ]
    categories = sorted({c["category"] for c in complaints}, key=lambda c: (c is None, c or ""))
    return {
        "year": year, "month": month, "zone": zone.key, "start": format_utc(start), "end": format_utc(end),
        "complaints": complaints,
        "categories": [_totals(cat, [exact[c["id"]] for c in complaints if c["category"] == cat])
                       for cat in categories],
        "total": _totals(None, list(exact.values())),
    }


def as_csv(report: Report) -> str:
    """One row per complaint under a header row; times local with their offset, no personal data."""
    zone = ZoneInfo(report["zone"])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180, as spreadsheets expect
    writer.writerow(CSV_COLUMNS)
    there = lambda v: instant(v).astimezone(zone).isoformat() if v else ""  # noqa: E731
    for c in report["complaints"]:
        writer.writerow([
            c["id"], there(c["opened_at"]), c["category"] or "", c["channel"] or "", c["location"], c["state"],
            there(c["forwarded_at"]), there(c["resolved_at"]), _number(c["minutes_to_forward"]),
            _number(c["minutes_to_resolve"]),
        ])
    return out.getvalue()


def report_document(report: Report, language: str, zone: ZoneInfo) -> Document:
    """The month's report as a printable document: the figures, totals per category, every complaint."""
    say = words(language)
    start, end = instant(report["start"]), instant(report["end"])
    month = say("months").split()[report["month"] - 1]
    label = zone_name(zone, start)
    total = report["total"]
    category = lambda c: c if c else say("report.no_category")  # noqa: E731
    shown = lambda v: _shown(v, language) or say("dash")  # noqa: E731
    pair = lambda a, b: say("dash") if a is None and b is None else f"{shown(a)} / {shown(b)}"  # noqa: E731
    figures = lambda t: (str(t["count"]), str(t["forwarded"]), str(t["resolved"]),  # noqa: E731
                         pair(t["forward_median_min"], t["forward_mean_min"]),
                         pair(t["resolve_median_min"], t["resolve_mean_min"]))
    by_category = Table(
        (say("category"), say("report.count_short"), say("report.forwarded"), say("report.resolved"),
         say("report.to_forward"), say("report.to_resolve")),
        (*((category(t["category"]), *figures(t)) for t in report["categories"]),
         *(((say("report.all"), *figures(total)),) if report["categories"] else ())),
        (34, 19, 25, 20, 36, 36), say("report.none"),
    )
    complaints = Table(
        (say("report.id"), f"{say('report.opened')} ({label})", say("report.kind_channel"), say("location"),
         say("report.state"), say("report.minutes")),
        tuple((c["id"][:8], local(c["opened_at"], zone, "%d-%m %H:%M"),
               f"{category(c['category'])}\n{term(say, 'ch', c['channel'])}", c["location"] or say("dash"),
               term(say, "st", c["state"]), pair(c["minutes_to_forward"], c["minutes_to_resolve"]))
              for c in report["complaints"]),
        (21, 21, 30, 38, 27, 33), say("report.none"),
    )
    digest = hashlib.sha256(as_csv(report).encode()).hexdigest()
    return Document(
        title=say("report.title"), subtitle=f"{month} {report['year']}", created_at=end,
        facts=(Fact(say("report.period"), f"{local(start, zone, '%d-%m-%Y')} – "
                    f"{local(end - timedelta(seconds=1), zone, '%d-%m-%Y')} ({label})"),
               Fact(say("report.count"), str(total["count"])),
               Fact(say("report.forwarded"), str(total["forwarded"])),
               Fact(say("report.resolved"), str(total["resolved"]))),
        sections=(Section(say("report.by_category"), tables=(by_category,)),
                  Section(say("report.list"), paragraphs=(say("report.note", zone=f"{label} ({zone.key})"),),
                          tables=(complaints,))),
        signatures=(), footer=(say("report.footer", sha=digest),), language=language,
    )


def _minutes(opened: datetime, then: datetime | None) -> float | None:
    return None if then is None else (then - opened).total_seconds() / 60


def _totals(category: str | None, durations: list[tuple[float | None, float | None]]) -> dict[str, Any]:
    """Count, forwarded, resolved, and median and mean minutes to forward and to resolve."""
    forward = [f for f, _ in durations if f is not None]
    resolve = [r for _, r in durations if r is not None]
    return {
        "category": category, "count": len(durations), "forwarded": len(forward), "resolved": len(resolve),
        "forward_median_min": _round(statistics.median(forward)) if forward else None,
        "forward_mean_min": _round(statistics.fmean(forward)) if forward else None,
        "resolve_median_min": _round(statistics.median(resolve)) if resolve else None,
        "resolve_mean_min": _round(statistics.fmean(resolve)) if resolve else None,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _shown(value: float | None, language: str) -> str:
    # On paper an Indonesian reader expects a decimal comma (15,2); the CSV keeps the point.
    return _number(value).replace(".", ",") if language == "id" else _number(value)


def _number(value: float | None) -> str:
    # 12.0 prints as "12", 12.5 as "12.5": the CSV stays machine-readable, the page uncluttered.
    return "" if value is None else f"{value:.1f}".removesuffix(".0")
