"""The berita acara: the segments its holds cover, its document read back from the PDF, and the
signed minutes the case book gets at closing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cases.minutes import Minutes, covered_segments, minutes_document
from cases.signing import MinutesSigner, verify
from core.casesconfig import CasesConfig, Contact
from core.clock import ManualClock
from core.db import make_engine, make_sessionmaker
from core.utctime import format_utc
from reports import Letterhead, render
from tests.cases.samples import OPENED, complaint_case, emergency_case, segment_row, sha
from tests.desk.deskutil import pdf_text

ZONE = ZoneInfo("Asia/Jakarta")
LETTERHEAD = Letterhead("Ruang Kendali CCTV Kota Pantau", "Dinas Komunikasi, Informatika, Statistik dan Persandian")
NUMBER = "BA/CCTV/2026/03/0007"
CONFIG = CasesConfig(directory=[Contact(id="polantas", name="Satlantas Polres Kota", phone="(021) 555-0110")])
PARTIES = ["Andi Saputra (petugas)", "Bripka Joko (Satlantas)"]
CLOSED = OPENED + timedelta(hours=2)


def some_segments(count: int) -> list[dict[str, Any]]:
    """Segments as covered_segments gives them, five minutes each, on two cameras."""
    out = []
    for n in range(count):
        start = OPENED + timedelta(minutes=-20 + 5 * (n // 2))
        out.append({"camera": ("gerbang-utara", "simpang-lima")[n % 2], "start": format_utc(start),
                    "end": format_utc(start + timedelta(minutes=5)), "sha256": sha(f"segment {n}"),
                    "bytes": 12_345_678 + n})
    return sorted(out, key=lambda s: (s["camera"], s["start"]))


async def test_minutes_read_back_in_indonesian(tmp_path: Path) -> None:
    segments = some_segments(8)
    document = minutes_document(complaint_case(), segments, NUMBER, PARTIES, "Pengaduan selesai ditangani.", "id",
                                ZONE, at=CLOSED, closed_by="budi", config=CONFIG)
    pdf = render(document, LETTERHEAD)
    text = await pdf_text(pdf, tmp_path, "minutes")
    for words in ("BERITA ACARA TINDAK LANJUT", f"Nomor: {NUMBER}", "Senin, 9 Maret 2026", "Pengaduan",
                  "6f1c2d7e-0b7a-4c59-9b1e-3d2a8f5e4c10", "tinggi", "kecelakaan", "telepon", "Siti Rahmawati",
                  "Simpang Lima, Jl. Pahlawan", "Uraian", "Kronologi", "Kasus dibuka", "Diterima petugas",
                  "Rekaman diamankan", "Kamera dan rentang waktu", "Rekaman yang diamankan", "8 berkas rekaman",
                  "Tindakan yang dilakukan", "Satlantas Polres Kota, (021) 555-0110", "melalui telepon",
                  "Hasil", "Kendaraan dievakuasi", "Pihak yang hadir", "1. Andi Saputra (petugas)",
                  "2. Bripka Joko (Satlantas)", "Kesimpulan", "Pengaduan selesai ditangani.", "Petugas",
                  "Mengetahui,", "Pimpinan", "budi", "pukul 16.00 WIB", "12.345.678 byte"):
        assert words in text, words
    for segment in segments:
        assert segment["sha256"] in text, segment  # whole, on one line
    last = complaint_case()["timeline"][-1]
    assert f"SHA-256 kasus: {last['sha256']}" in text
    assert f"Log akses #{last['log_seq']}" in text
    assert "0812-0000-1111" not in text  # the reporter's contact never prints
    assert render(document, LETTERHEAD) == pdf  # deterministic: the signed bytes can be made again


async def test_minutes_without_reporter_and_in_english(tmp_path: Path) -> None:
    document = minutes_document(complaint_case(reporter=None), [], NUMBER, [], "", "en", ZONE, at=CLOSED,
                                log_seq=5000)
    text = await pdf_text(render(document, LETTERHEAD), tmp_path, "english")
    for words in ("Follow-up minutes", f"Number: {NUMBER}", "Monday, 9 March 2026", "Complaint", "Outcome"):
        assert words in text, words
    assert "Reporter" not in text  # the book handed over no name: none prints
    assert "No recording is stored in the secured time windows." in text
    assert "Access log #5000" in text
    # Without the directory the forward names the contact by its id.
    assert "polantas" in text and "by phone" in text


async def test_covered_segments_of_holds(db_url: str) -> None:
    engine = make_engine(db_url)
    db = make_sessionmaker(engine)
    try:
        async with db() as session:
            for n in range(10):  # simpang-lima: 5 min each from -30 min
                session.add(segment_row("simpang-lima", OPENED + timedelta(minutes=-30 + 5 * n), 300, n))
            for n in range(12):  # gerbang-utara: 2 min each from -16 min
                session.add(segment_row("gerbang-utara", OPENED + timedelta(minutes=-16 + 2 * n), 120, 100 + n))
            session.add(segment_row("parkir-barat", OPENED, 300, 200))  # in the window, but not held
            await session.commit()
        at = lambda m: format_utc(OPENED + timedelta(minutes=m))  # noqa: E731
        holds = [{"hold_id": 1, "camera": "simpang-lima", "start": at(-20), "end": at(10)},
                 {"hold_id": 2, "camera": "gerbang-utara", "start": at(-15), "end": at(5)},
                 {"hold_id": 3, "camera": "simpang-lima", "start": at(-5), "end": at(15)}]
        async with db() as session:
            found = await covered_segments(session, holds)
    finally:
        await engine.dispose()
    # [start, end): the segment ending at -20 and the one starting at +15 are outside; the overlap
    # of holds 1 and 3 lists each segment once.
    assert [(s["camera"], s["start"]) for s in found] == [
        *(("gerbang-utara", at(m)) for m in range(-16, 5, 2)),
        *(("simpang-lima", at(m)) for m in range(-20, 15, 5)),
    ]
    first = found[0]
    assert first == {"camera": "gerbang-utara", "start": at(-16), "end": at(-14),
                     "sha256": sha("gerbang-utara segment 100"), "bytes": 1_000_100}


async def test_make_renders_signs_and_lists_the_held_segments(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    db = make_sessionmaker(engine)
    try:
        async with db() as session:
            for n in range(8):
                session.add(segment_row("simpang-lima", OPENED + timedelta(minutes=-25 + 5 * n), 300, n))
            await session.commit()
        signer = MinutesSigner(tmp_path / "keys" / "berita-acara.pem")
        minutes = Minutes(db, CONFIG, LETTERHEAD, ZONE, signer, clock=ManualClock(CLOSED))
        case = complaint_case()
        pdf, signature, key_id = await minutes.make(case, NUMBER, PARTIES, "Selesai.", "id", closed_by="budi")
    finally:
        await engine.dispose()
    assert key_id == signer.key_id and len(key_id) == 16
    assert verify(pdf, signature, signer.public_key_pem)
    text = await pdf_text(pdf, tmp_path, "made")
    # simpang-lima is held over [-20, +10): the segments starting at -20 ... +5.
    for n in range(1, 7):
        assert sha(f"simpang-lima segment {n}") in text
    assert sha("simpang-lima segment 0") not in text and sha("simpang-lima segment 7") not in text
    assert "6 berkas rekaman" in text and "pukul 16.00 WIB" in text


async def test_emergency_minutes_name_the_playbook_and_its_steps(tmp_path: Path) -> None:
    config = CasesConfig.model_validate({
        "playbooks": [{"id": "panic", "name_id": "Tombol panik kota", "steps": [{"id": "s", "text_id": "x"}]}],
    })
    document = minutes_document(emergency_case(), [], "BA/CCTV/2026/03/0008", ["Andi Saputra"], "Alarm palsu.",
                                "id", ZONE, config=config)
    text = await pdf_text(render(document, LETTERHEAD), tmp_path, "emergency")
    for words in ("Keadaan darurat", "Tombol panik kota (panic)", "kritis", "sumber: trigger:http",
                  "Eskalasi", "dilaporkan ke pimpinan", "ditanggapi 2 menit (eskalasi ke-1)", "Langkah",
                  "Hubungi polsek terdekat", "Polsek Kota Timur, 110", "Tampilkan kamera di video wall", "layar 2",
                  "Alarm palsu: tombol tertekan petugas kebersihan", "Tidak ada rekaman yang ditahan",
                  "Tidak ada rekaman tersimpan", "Senin, 9 Maret 2026"):
        assert words in text, words
    assert "Saluran" not in text and "Kategori" not in text  # complaints only
