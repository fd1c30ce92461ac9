"""`pantau verify-berita-acara`: a signed berita acara checked offline, as a separate process."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cases.minutes import minutes_document
from cases.signing import MinutesSigner
from reports import Letterhead, render
from tests.cases.samples import OPENED, complaint_case

ROOT = Path(__file__).resolve().parents[2]


def pantau(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m gateway ARGS` in `cwd`, with no PANTAU_* variables."""
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args], cwd=cwd, capture_output=True, text=True, timeout=60,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)},
    )


@pytest.fixture(scope="module")
def minutes_pdf() -> bytes:
    """A real berita acara as the case book stores it."""
    document = minutes_document(complaint_case(), [], "BA/CCTV/2026/03/0007", ["Andi"], "Selesai.", "id",
                                ZoneInfo("Asia/Jakarta"), at=OPENED + timedelta(hours=2), closed_by="budi")
    return render(document, Letterhead("Ruang Kendali CCTV Kota Pantau"))


def test_signed_minutes_verify_and_any_change_does_not(tmp_path: Path, minutes_pdf: bytes) -> None:
    signer = MinutesSigner(tmp_path / "keys" / "berita-acara.pem")
    pdf, sig = tmp_path / "ba.pdf", tmp_path / "ba.sig"
    pdf.write_bytes(minutes_pdf)
    sig.write_text(signer.sign(minutes_pdf) + "\n")
    public = str(signer.public_key_path)

    ok = pantau("verify-berita-acara", str(pdf), "--signature", str(sig), "--public-key", public, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"OK: signed by key {signer.key_id}"

    flipped = bytearray(minutes_pdf)
    flipped[len(flipped) // 2] ^= 0x01  # one byte, in the middle of the page's content
    changed = tmp_path / "changed.pdf"
    changed.write_bytes(bytes(flipped))
    bad = pantau("verify-berita-acara", str(changed), "--signature", str(sig), "--public-key", public, cwd=tmp_path)
    assert bad.returncode == 1
    assert "signature does not match" in bad.stdout

    other = MinutesSigner(tmp_path / "other" / "ba.pem")
    foreign = tmp_path / "foreign.sig"
    foreign.write_text(other.sign(minutes_pdf))
    bad = pantau("verify-berita-acara", str(pdf), "--signature", str(foreign), "--public-key", public, cwd=tmp_path)
    assert bad.returncode == 1
    assert "signature does not match" in bad.stdout


def test_default_key_is_the_configured_one(tmp_path: Path, minutes_pdf: bytes) -> None:
    pdf, sig = tmp_path / "ba.pdf", tmp_path / "ba.sig"
    pdf.write_bytes(minutes_pdf)
    # No config file: the built-in data_dir ("data") holds the key.
    default = MinutesSigner(tmp_path / "data" / "keys" / "berita-acara.pem")
    sig.write_text(default.sign(minutes_pdf))
    ok = pantau("verify-berita-acara", str(pdf), "--signature", str(sig), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"OK: signed by key {default.key_id}"

    configured = MinutesSigner(tmp_path / "elsewhere" / "ba.pem")
    (tmp_path / "config.yaml").write_text(f"cases:\n  key_path: {configured.key_path}\n")
    bad = pantau("verify-berita-acara", str(pdf), "--signature", str(sig), cwd=tmp_path)
    assert bad.returncode == 1 and "signature does not match" in bad.stdout
    sig.write_text(configured.sign(minutes_pdf))
    ok = pantau("verify-berita-acara", str(pdf), "--signature", str(sig), cwd=tmp_path)
    assert ok.returncode == 0 and configured.key_id in ok.stdout


def test_missing_files_and_usage(tmp_path: Path, minutes_pdf: bytes) -> None:
    pdf, sig = tmp_path / "ba.pdf", tmp_path / "ba.sig"
    pdf.write_bytes(minutes_pdf)
    sig.write_text(MinutesSigner(tmp_path / "k.pem").sign(minutes_pdf))
    no_key = pantau("verify-berita-acara", str(pdf), "--signature", str(sig), cwd=tmp_path)
    assert no_key.returncode == 1 and "cannot read public key" in no_key.stderr
    no_sig = pantau("verify-berita-acara", str(pdf), "--signature", str(tmp_path / "none.sig"),
                    "--public-key", str(tmp_path / "k.pub.pem"), cwd=tmp_path)
    assert no_sig.returncode == 1 and "cannot read" in no_sig.stderr
    usage = pantau("verify-berita-acara", str(pdf), cwd=tmp_path)
    assert usage.returncode == 2 and "--signature" in usage.stderr
