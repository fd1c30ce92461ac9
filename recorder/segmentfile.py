"""The file under a segment: a write-only, never-seeking sink that hashes what the muxer writes.

The muxer gets this object instead of a path. It has no `seek`, so PyAV hands FFmpeg a
non-seekable AVIOContext: the fragmented-MP4 muxer (empty_moov, frag_keyframe,
default_base_moof) then writes strictly forward, and the SHA-256 computed here is the
hash of the file's bytes in order, with no second read.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


class HashingFile:
    """Append-only file that hashes every byte written; fsync and close with `finish()`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # O_EXCL: a temporary name never silently reuses (and truncates) another file.
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        self._sha = hashlib.sha256()
        self.bytes = 0
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Write everything in `data` (raises OSError, e.g. ENOSPC)."""
        view = memoryview(data)
        total = len(view)
        while view:
            written = os.write(self._fd, view)
            # Hash what reached the file: a short write hashes only its part.
            self._sha.update(view[:written])
            self.bytes += written
            view = view[written:]
        return total

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.bytes

    def flush(self) -> None:
        """Nothing is buffered here; FFmpeg's AVIO buffer is flushed by closing the container."""

    def sha256(self) -> str:
        """Hex digest of every byte written so far."""
        return self._sha.hexdigest()

    def finish(self) -> str:
        """fsync and close; returns the SHA-256 of the file."""
        if not self.closed:
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self.closed = True
        return self.sha256()

    def abandon(self) -> None:
        """Close without fsync (after a failed write); the file stays for recovery."""
        if not self.closed:
            self.closed = True
            os.close(self._fd)


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def seal_file(temp: Path, final: Path) -> None:
    """Rename a fsynced temporary file to its final name and make it read-only, durably."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        raise FileExistsError(f"{final} already exists; a sealed segment is never replaced")
    os.rename(temp, final)
    os.chmod(final, 0o400)
    fsync_dir(final.parent)
    if temp.parent != final.parent:
        fsync_dir(temp.parent)


def hash_file(path: Path, chunk: int = 1 << 20) -> tuple[str, int]:
    """SHA-256 and size of a file by reading it (verification and recovery only)."""
    sha = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            sha.update(block)
            size += len(block)
    return sha.hexdigest(), size


def complete_prefix(path: Path) -> int:
    """Length of the longest prefix of an fMP4 file that ends after a whole fragment.

    Walks the top-level boxes; a crash leaves the last one short. A `moof` counts only
    together with the `mdat` after it. Returns 0 when not even ftyp+moov is whole.
    """
    size = path.stat().st_size
    good = 0
    have_moov = False
    pending_moof = False
    with open(path, "rb") as fh:
        pos = 0
        while pos + 8 <= size:
            fh.seek(pos)
            header = fh.read(16)
            box_size = int.from_bytes(header[0:4], "big")
            kind = header[4:8]
            if box_size == 1:
                if len(header) < 16:
                    break
                box_size = int.from_bytes(header[8:16], "big")
            elif box_size == 0:
                box_size = size - pos
            if box_size < 8 or pos + box_size > size:
                break
            pos += box_size
            if kind == b"moov":
                have_moov = True
                good = pos
            elif kind == b"moof":
                pending_moof = True
            elif kind == b"mdat":
                if pending_moof and have_moov:
                    good = pos
                pending_moof = False
            elif kind in (b"ftyp", b"free", b"styp", b"sidx") and not pending_moof:
                good = pos if have_moov else good
            elif kind == b"mfra" and not pending_moof:
                good = pos
    return good if have_moov else 0
