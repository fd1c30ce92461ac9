"""The monthly complaints report over complaint rows in a real database: rows, totals, CSV, PDF."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cases.complaintsreport import CSV_COLUMNS, as_csv, month_bounds, month_report, report_document
from cases.models import CaseEventRow, CaseRow
from core.db import make_engine, make_sessionmaker
from reports import Letterhead, render
from tests.cases.samples import sha
from tests.desk.deskutil import pdf_text

ZONE = ZoneInfo("Asia/Jakarta")
REPORTER = ("Siti Rahmawati", "0812-0000-1111")


def complaint(
    n: int, opened: datetime, category: str | None, *, forward_min: float | None = None,
    resolve_min: float | None = None, state: str = "opened", channel: str = "phone", location: str = "",
    kind: str = "complaint",
) -> tuple[CaseRow, list[CaseEventRow]]:
    """A case row as the book leaves it, with the events that moved it (the report reads the row)."""
    forwarded = opened + timedelta(minutes=forward_min) if forward_min is not None else None
    resolved = opened + timedelta(minutes=resolve_min) if resolve_min is not None else None
    row = CaseRow(
        id=f"00000000-0000-4000-8000-{n:012d}", kind=kind, state=state, severity="medium", title=f"Pengaduan {n}",
        at=opened, cameras="", category=category, channel=channel if kind == "complaint" else None,
        location=location, reporter_name=REPORTER[0], reporter_contact=REPORTER[1], opened_at=opened,
        opened_by="andi", forwarded_at=forwarded, resolved_at=resolved, escalations=0,
        updated_at=resolved or forwarded or opened,
    )
    events = [("opened", opened), ("forwarded", forwarded), ("resolved", resolved)]
    return row, [
        CaseEventRow(id=f"10000000-0000-4000-8000-{n:010d}{i:02d}", case_id=row.id, at=at, actor="andi", kind=kind_, content="{}",
                     sha256=sha(f"{n} {kind_}"), log_seq=n * 10 + i)
        for i, (kind_, at) in enumerate(events) if at is not None
    ]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A UTC instant."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def march_rows() -> list[tuple[CaseRow, list[CaseEventRow]]]:
    """Five complaints opened in March 2026 (WIB), and three rows the report must leave out."""
    return [
        # 1 March 00:30 WIB is still 28 February in UTC: it belongs to March.
        complaint(1, utc(2026, 2, 28, 17, 30), "kecelakaan", forward_min=5, resolve_min=60, state="closed",
                  location="Simpang Lima"),
        complaint(2, utc(2026, 3, 10, 3, 0), "kecelakaan", forward_min=10, resolve_min=120, state="resolved",
                  channel="walk_in"),
        complaint(3, utc(2026, 3, 15, 5, 0), "kecelakaan", forward_min=30.5, state="forwarded", channel="message"),
        complaint(4, utc(2026, 3, 20, 10, 0), "banjir", state="acknowledged", channel="social_media",
                  location='Jl. Merdeka, "RT 05"'),
        complaint(5, utc(2026, 3, 31, 16, 59), None),  # 23:59 WIB on 31 March
        # Outside the local month, or not complaints.
        complaint(6, utc(2026, 3, 31, 17, 0), "banjir"),  # 00:00 WIB on 1 April
        complaint(7, utc(2026, 2, 28, 16, 59), "banjir"),  # 23:59 WIB on 28 February
        complaint(8, utc(2026, 3, 12, 1, 0), None, kind="incident"),
    ]


async def march(db_url: str) -> dict[str, Any]:
    """March 2026's report over march_rows() (new objects: a stored row belongs to its session)."""
    engine = make_engine(db_url)
    db = make_sessionmaker(engine)
    try:
        async with db() as session:
            rows = march_rows()
            session.add_all([row for row, _ in rows])
            await session.flush()
            session.add_all([event for _, events in rows for event in events])
            await session.commit()
        async with db() as session:
            return await month_report(session, 2026, 3, ZONE)
    finally:
        await engine.dispose()


def test_month_bounds_are_local() -> None:
    assert month_bounds(2026, 3, ZONE) == (utc(2026, 2, 28, 17), utc(2026, 3, 31, 17))
    assert month_bounds(2026, 12, ZONE) == (utc(2026, 11, 30, 17), utc(2026, 12, 31, 17))


async def test_month_report_rows_totals_and_csv(db_url: str) -> None:
    report = await march(db_url)
    assert [c["id"][-1] for c in report["complaints"]] == ["1", "2", "3", "4", "5"]
    first = report["complaints"][0]
    assert first == {
        "id": "00000000-0000-4000-8000-000000000001", "opened_at": "2026-02-28T17:30:00Z", "category": "kecelakaan",
        "channel": "phone", "location": "Simpang Lima", "state": "closed", "forwarded_at": "2026-02-28T17:35:00Z",
        "resolved_at": "2026-02-28T18:30:00Z", "minutes_to_forward": 5.0, "minutes_to_resolve": 60.0,
    }
    assert [t["category"] for t in report["categories"]] == ["banjir", "kecelakaan", None]
    accidents = report["categories"][1]
    assert accidents == {"category": "kecelakaan", "count": 3, "forwarded": 3, "resolved": 2,
                         "forward_median_min": 10.0, "forward_mean_min": 15.2,
                         "resolve_median_min": 90.0, "resolve_mean_min": 90.0}
    assert report["categories"][0] == {
        "category": "banjir", "count": 1, "forwarded": 0, "resolved": 0, "forward_median_min": None,
        "forward_mean_min": None, "resolve_median_min": None, "resolve_mean_min": None}
    assert report["total"] == {**accidents, "category": None, "count": 5}
    assert REPORTER[0] not in json.dumps(report) and REPORTER[1] not in json.dumps(report)

    text = as_csv(report)
    assert REPORTER[0] not in text and REPORTER[1] not in text
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 6
    assert rows[1] == ["00000000-0000-4000-8000-000000000001", "2026-03-01T00:30:00+07:00", "kecelakaan", "phone",
                       "Simpang Lima", "closed", "2026-03-01T00:35:00+07:00", "2026-03-01T01:30:00+07:00", "5", "60"]
    assert rows[3][8:] == ["30.5", ""]
    assert rows[4][4] == 'Jl. Merdeka, "RT 05"' and rows[4][6:] == ["", "", "", ""]
    assert rows[5][1:3] == ["2026-03-31T23:59:00+07:00", ""]
    assert text.encode("utf-8").decode("utf-8") == text and text.endswith("\r\n")


async def test_month_report_prints(db_url: str, tmp_path: Path) -> None:
    report = await march(db_url)
    pdf = render(report_document(report, "id", ZONE), Letterhead("Ruang Kendali CCTV Kota Pantau"))
    text = await pdf_text(pdf, tmp_path, "complaints")
    for words in ("LAPORAN PENGADUAN MASYARAKAT", "Maret 2026", "01-03-2026 – 31-03-2026 (WIB)",
                  "Rekapitulasi per kategori", "Daftar pengaduan", "kecelakaan", "banjir", "tanpa kategori",
                  "Semua kategori", "10 / 15,2", "90 / 90", "5 / 60", "30,5 / –", "31-03", "23:59", "media sosial",
                  "diteruskan",
                  "Jl. Merdeka,", "00000000", "Data pribadi"):
        assert words in text, words
    assert REPORTER[0] not in text
    english = render(report_document(report, "en", ZONE), Letterhead("CCTV control room"))
    text = await pdf_text(english, tmp_path, "complaints-en")
    for words in ("Public complaints report", "March 2026", "Totals by category", "10 / 15.2", "no category",
                  "walk-in", "CSV SHA-256: "):
        assert words in text, words


async def test_an_empty_month(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as session:
            report = await month_report(session, 2026, 1, ZONE)
    finally:
        await engine.dispose()
    assert report["complaints"] == [] and report["categories"] == []
    assert report["total"]["count"] == 0 and report["total"]["forward_median_min"] is None
    assert as_csv(report) == ",".join(CSV_COLUMNS) + "\r\n"
    text = await pdf_text(render(report_document(report, "id", ZONE), Letterhead("Ruang")), tmp_path, "empty")
    assert "Tidak ada pengaduan." in text and "Januari 2026" in text
