"""`pantau verify-berita-acara FILE.pdf --signature FILE.sig [--public-key PEM]`: check a berita
acara offline, with its detached signature and the public key only."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from cases.signing import load_public_pem, verify
from core.errors import PantauError
from policy.dispositions.tokenkeys import key_id


def verify_minutes_cli(pdf_path: Path, signature_path: Path, public_key_path: Path, out: TextIO | None = None) -> int:
    """Print the verdict; 0 when the signature is the key's over exactly the PDF's bytes, 1 otherwise."""
    out = out or sys.stdout
    try:
        pdf = pdf_path.read_bytes()
        signature = signature_path.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        print(f"pantau: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        pem = public_key_path.read_bytes()
        kid = key_id(load_public_pem(pem))
    except (OSError, PantauError) as exc:
        print(f"pantau: cannot read public key {public_key_path}: {exc}", file=sys.stderr)
        return 1
    if not verify(pdf, signature, pem):
        print(f"signature does not match: {pdf_path} was not signed by key {kid} as it is now", file=out)
        return 1
    print(f"OK: signed by key {kid}", file=out)
    return 0
