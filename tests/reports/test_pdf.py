"""A shift handover in Indonesian rendered to PDF and read back with poppler: text, fonts, footer."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from pathlib import Path

from reports import Document, Letterhead, Section, render
from tests.reports.poppler import embedded_fonts, grey_pixels, page_images, page_texts
from tests.reports.samples import LETTERHEAD, LOG_LINE, SHA256, handover


async def write_pdf(tmp_path: Path, document: Document, letterhead: Letterhead = LETTERHEAD) -> Path:
    """Render in a thread (it blocks) and write the file poppler reads."""
    data = await asyncio.to_thread(render, document, letterhead)
    assert data.startswith(b"%PDF-")
    path = tmp_path / "report.pdf"
    path.write_bytes(data)
    return path


async def test_handover_prints_indonesian_text_signatures_and_footer(tmp_path: Path) -> None:
    pdf = await write_pdf(tmp_path, handover())
    images = await page_images(pdf)
    texts = await page_texts(pdf)
    assert len(images) == len(texts) >= 1
    assert all(image.stat().st_size > 1000 for image in images)
    whole = "\n".join(texts)
    for expected in (
        "Ruang Kendali CCTV Kota Pantau",
        "Dinas Komunikasi dan Informatika · Jl. Merdeka No. 1",
        "Berita Acara Serah Terima Shift",
        "Nomor: BA/CCTV/2025/06/0042",
        "Pagi (07.00–15.00 WIB)",
        "Kamera gerbang-utara terputus 30 detik",
        "Café di sudut alun-alun",
        "≥ 25 fps",
        "Tidak ada patroli tercatat",
        "Yang menyerahkan",
        "Yang menerima",
        "Budi Santoso",
        "Siti Aminah",
        "Diterima dengan catatan",
    ):
        assert expected in whole, expected
    for number, text in enumerate(texts, start=1):
        assert f"SHA-256 {SHA256}" in text
        assert LOG_LINE in text
        assert f"Halaman {number} dari {len(texts)}" in text


async def test_page_numbers_in_english(tmp_path: Path) -> None:
    texts = await page_texts(await write_pdf(tmp_path, handover(language="en")))
    assert f"Page 1 of {len(texts)}" in texts[0]
    assert "Halaman" not in texts[0]


async def test_fonts_are_embedded_dejavu(tmp_path: Path) -> None:
    rows = await embedded_fonts(await write_pdf(tmp_path, handover()))
    names = {row.split()[0].split("+")[-1]: row for row in rows}
    assert set(names) == {"DejaVuSansBook", "DejaVuSansBold", "DejaVuSansOblique", "DejaVuSansMonoBook"}
    for row in names.values():
        # "yes yes yes": embedded, subset, with a ToUnicode map (the text can be searched).
        assert re.search(r"\byes\s+yes\s+yes\b", row), row


async def test_watermark_on_every_page(tmp_path: Path) -> None:
    marked_dir, plain_dir = tmp_path / "marked", tmp_path / "plain"
    marked_dir.mkdir()
    plain_dir.mkdir()
    marked = await page_images(await write_pdf(marked_dir, handover(rows=120, watermark="DRAFT — BELUM DITERIMA")))
    plain = await page_images(await write_pdf(plain_dir, handover(rows=120)))
    assert len(marked) == len(plain) > 1
    for with_mark, without in zip(marked, plain, strict=True):
        # The watermark's light grey covers a diagonal band of the page; text and table edges
        # alone leave few such pixels.
        assert grey_pixels(with_mark) > grey_pixels(without) + 3000


async def test_page_count_alias_in_caller_text_prints_as_written(tmp_path: Path) -> None:
    document = handover()
    document = replace(
        document,
        sections=(*document.sections, Section("4. Catatan", ("Kode {nb} tetap tertulis",))),
        footer=(*document.footer, "Arsip {nb}"),
    )
    texts = await page_texts(await write_pdf(tmp_path, document))
    whole = "\n".join(texts)
    assert "Kode {nb} tetap tertulis" in whole
    assert "Arsip {nb}" in texts[0]
    assert f"Halaman 1 dari {len(texts)}" in texts[0]
