"""Scanned disposition letters: content sniffing and content-addressed, read-only storage."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

# Magic bytes of what a scanner or phone produces; the client's Content-Type is not trusted.
SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
)
LETTERS_DIR = "letters"


def sniff(data: bytes) -> tuple[str, str] | None:
    """(content type, file extension) from the first bytes, or None when not PDF, JPEG or PNG."""
    for magic, content_type, ext in SIGNATURES:
        if data.startswith(magic):
            return content_type, ext
    return None


def store(data_dir: Path, data: bytes, ext: str) -> tuple[str, str]:
    """Write `data` once under data_dir/letters/<sha256><ext>, read-only; (sha256, relative path).

    Blocking (hashing, fsync): run it in a worker thread.
    """
    digest = hashlib.sha256(data).hexdigest()
    relative = f"{LETTERS_DIR}/{digest}{ext}"
    final = data_dir / relative
    if final.exists() and final.stat().st_size == len(data):
        return digest, relative
    final.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    tmp = final.with_name(f".{digest}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o400)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return digest, relative
