"""Long content pages cleanly: a 300-row table, a 20,000-character paragraph, a cell taller than a page."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from reports import Section, Table
from tests.reports.poppler import page_images, page_texts
from tests.reports.samples import SHA256, handover
from tests.reports.test_pdf import write_pdf

SENTENCE = "Kamera gerbang-utara terputus 30 detik dan kembali daring. "


async def test_300_row_table_repeats_its_header_on_every_page(tmp_path: Path) -> None:
    pdf = await write_pdf(tmp_path, handover(rows=300))
    texts = await page_texts(pdf)
    assert len(await page_images(pdf)) == len(texts) >= 4
    numbers: list[int] = []
    for page, text in enumerate(texts, start=1):
        found = [int(n) for n in re.findall(r"gerbang-utara-(\d{3})", text)]
        if found and page > 1:
            # The camera table's header row, repeated above the rows of this page.
            assert re.search(r"Kamera\s+Status\s+Kualitas\s+Catatan", text), f"page {page}"
            assert text.index("Catatan") < text.index(f"gerbang-utara-{found[0]:03d}")
        numbers += found
        assert f"SHA-256 {SHA256}" in text
        assert f"Halaman {page} dari {len(texts)}" in text
    assert numbers == list(range(1, 301))


async def test_20000_character_paragraph_flows_over_pages(tmp_path: Path) -> None:
    repeats = 20_000 // len(SENTENCE)
    document = handover(paragraph=SENTENCE * repeats)
    texts = await page_texts(await write_pdf(tmp_path, document))
    assert len(texts) >= 4
    # Words, since lines wrap anywhere and a sentence may go on after the footer of its page.
    words = " ".join(texts).split()
    # Every sentence, none lost at a page break (the event table's first row has "terputus" too).
    assert words.count("daring.") == repeats
    assert words.count("terputus") == repeats + 1
    for page, text in enumerate(texts, start=1):
        assert f"Halaman {page} dari {len(texts)}" in text


async def test_a_cell_taller_than_a_page_continues_on_the_next(tmp_path: Path) -> None:
    # fpdf2 cannot split a row; ours is cut into continuation rows instead of failing.
    words = [f"kata{n:04d}" for n in range(2500)]
    note = Table(columns=("Waktu", "Catatan operator"), rows=(("08:00", " ".join(words)), ("09:00", "akhir")))
    document = handover()
    document = replace(document, sections=(*document.sections, Section("4. Catatan panjang", tables=(note,))))
    texts = await page_texts(await write_pdf(tmp_path, document))
    assert len(texts) >= 4
    found = re.findall(r"kata(\d{4})", " ".join(texts))
    assert [int(n) for n in found] == list(range(2500))
    assert "akhir" in texts[-1]
    # Every page the long row reaches has the table's header above it.
    for text in texts[1:]:
        if "kata" in text:
            assert re.search(r"Waktu\s+Catatan operator", text)
