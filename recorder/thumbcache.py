"""The thumbnails' disk cache: small files under one directory, at most a byte budget, the least
recently used removed first. Nothing in it is evidence: any file may go at any time and is made
again from its sealed segment.

Used from worker threads (the decode runs there), so the bookkeeping is under a lock; the files are
written to a temporary name and renamed, so a reader never sees half a JPEG.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

log = logging.getLogger(__name__)

TEMP_SUFFIX = ".tmp"


class ThumbnailCache:
    """Files by relative name under `root`, their total size kept under `budget` bytes (LRU)."""

    def __init__(self, root: Path, budget: int) -> None:
        if budget <= 0:
            raise ValueError("the thumbnail cache needs a positive budget")
        self.root = root
        self.budget = budget
        self.evicted = 0
        self._lock = threading.Lock()
        #: name -> size, least recently used first; read from the disk on first use.
        self._files: OrderedDict[str, int] | None = None
        self._total = 0

    @property
    def size(self) -> int:
        """What the cache holds now."""
        with self._lock:
            self._load()
            return self._total

    def read(self, name: str) -> bytes | None:
        """The file's bytes (now the most recently used), or None when it is not cached."""
        path = self.root / name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            with self._lock:
                self._forget(name)
            return None
        with self._lock:
            self._load()
            if name in self._files:  # type: ignore[operator]
                self._files.move_to_end(name)  # type: ignore[union-attr]
            else:  # written by another process sharing the directory
                self._add(name, len(data))
        # The order survives a restart: the start-up scan sorts by modification time.
        try:
            os.utime(path)
        except FileNotFoundError:
            pass
        return data

    def write(self, name: str, data: bytes) -> None:
        """Keep `data` as `name`, then remove the least recently used files over the budget."""
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        # The process too: worker processes share the cache directory (gateway/workerslot.py).
        temp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}{TEMP_SUFFIX}")
        temp.write_bytes(data)
        os.replace(temp, path)
        with self._lock:
            self._load()
            self._forget(name)
            self._add(name, len(data))
            victims = self._over_budget()
        for victim in victims:
            try:
                (self.root / victim).unlink()
            except FileNotFoundError:
                pass

    def _load(self) -> None:
        if self._files is not None:
            return
        found: list[tuple[float, str, int]] = []
        if self.root.is_dir():
            for path in self.root.rglob("*"):
                if not path.is_file():
                    continue
                if path.name.endswith(TEMP_SUFFIX):  # a crash between write and rename
                    path.unlink(missing_ok=True)
                    continue
                stat = path.stat()
                found.append((stat.st_mtime, path.relative_to(self.root).as_posix(), stat.st_size))
        self._files = OrderedDict((name, size) for _, name, size in sorted(found))
        self._total = sum(self._files.values())
        log.debug("thumbnail cache: %d files, %d bytes under %s", len(self._files), self._total, self.root)

    def _add(self, name: str, size: int) -> None:
        assert self._files is not None
        self._files[name] = size
        self._total += size

    def _forget(self, name: str) -> None:
        if self._files is not None and name in self._files:
            self._total -= self._files.pop(name)

    def _over_budget(self) -> list[str]:
        """Names dropped from the books (oldest use first) until the rest fits the budget."""
        assert self._files is not None
        victims: list[str] = []
        # The newest file stays even when it alone is over the budget: it is what was just asked for.
        while self._total > self.budget and len(self._files) > 1:
            name, size = self._files.popitem(last=False)
            self._total -= size
            victims.append(name)
        self.evicted += len(victims)
        return victims
