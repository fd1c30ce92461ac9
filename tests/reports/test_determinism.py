"""The same document gives the same bytes: in one process, and in another with other hash seeds."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from reports import render
from tests.reports.samples import LETTERHEAD, handover

ROOT = Path(__file__).resolve().parents[2]

# Renders the sample in a fresh interpreter: set iteration order, font caches and ids all start over.
_CHILD = """
import sys
from pathlib import Path
from reports import render
from tests.reports.samples import LETTERHEAD, handover
Path(sys.argv[1]).write_bytes(render(handover(rows=40, watermark="DRAFT"), LETTERHEAD))
"""


def test_rendering_twice_gives_identical_bytes() -> None:
    document = handover(rows=40, watermark="DRAFT")
    assert render(document, LETTERHEAD) == render(document, LETTERHEAD)


async def test_another_process_gives_identical_bytes(tmp_path: Path) -> None:
    here = await asyncio.to_thread(render, handover(rows=40, watermark="DRAFT"), LETTERHEAD)
    for seed in ("1", "4242"):
        out = tmp_path / f"seed-{seed}.pdf"
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _CHILD, str(out), cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE
        )
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0, stderr.decode()
        assert out.read_bytes() == here, f"PYTHONHASHSEED={seed}"


def test_creation_date_is_the_documents_not_the_clock() -> None:
    document = handover()
    data = render(document, LETTERHEAD)
    assert b"/CreationDate (D:20250602000500Z)" in data
    later = render(replace(document, created_at=document.created_at + timedelta(seconds=1)), LETTERHEAD)
    assert b"/CreationDate (D:20250602000501Z)" in later
    # The file identifier hashes the content and that date, nothing random.
    assert _file_id(data) != _file_id(later)
    assert _file_id(data) == _file_id(render(document, LETTERHEAD))
    # fpdf2 writes an XMP packet (with a ModifyDate of now) only for PDF/A; none here.
    assert b"<?xpacket" not in data


def _file_id(data: bytes) -> bytes:
    start = data.rindex(b"/ID [")
    return data[start : data.index(b"]", start)]
