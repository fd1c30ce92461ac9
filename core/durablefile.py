"""Files that appear whole or not at all: written under a temporary name, made durable (fsync),
then given their name; the one way keys, exports and copies reach their final path."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

HASH_BLOCK = 1 << 20


def create_private(path: Path, data: bytes) -> bool:
    """Create `path` holding `data`, readable by its owner only (0600), unless it exists already.
    Processes starting together end up with one file and nobody reads a half-written one: the
    bytes go to a private temporary file first, which is then hard-linked to `path` (a link never
    replaces a file). True when this call created it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False  # another process won the race; its file stands
    finally:
        tmp.unlink()


def publish_hashed(tmp: Path, final: Path, *, replace: bool) -> tuple[int, str]:
    """Hash the finished `tmp` while making it durable, then give it its name: (size, SHA-256).
    With `replace` false an existing `final` is never overwritten (FileExistsError) and `tmp`
    stays for the caller to remove; with it true `final` is atomically replaced."""
    sha, size = hashlib.sha256(), 0
    with open(tmp, "rb") as fh:
        while block := fh.read(HASH_BLOCK):
            sha.update(block)
            size += len(block)
        os.fsync(fh.fileno())
    if replace:
        os.replace(tmp, final)
    else:
        os.link(tmp, final)
    return size, sha.hexdigest()
