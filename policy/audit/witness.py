"""Witnesses: copies of every checkpoint kept outside the gateway's database.

A truncated tail, or a log rewritten and re-signed with a stolen key, no longer matches
the checkpoints a witness saw. The file witness appends one JSON line per checkpoint
(put it on another mount, ideally append-only: `chattr +a`); the HTTP witness POSTs the
signed note as text/plain.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Protocol

import aiohttp

from policy.audit.encoding import StoredCheckpoint

log = logging.getLogger(__name__)


class Witness(Protocol):
    """Somewhere a signed checkpoint is sent to; raises OSError or aiohttp.ClientError on failure."""

    async def push(self, checkpoint: StoredCheckpoint) -> None: ...

    async def close(self) -> None: ...


class FileWitness:
    """Appends each checkpoint as one JSON line and fsyncs it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    async def push(self, checkpoint: StoredCheckpoint) -> None:
        line = json.dumps(checkpoint.to_json(), sort_keys=True) + "\n"
        await asyncio.to_thread(self._append, line)

    async def close(self) -> None:
        return None


class HttpWitness:
    """POSTs each signed checkpoint note to a URL; any 2xx is success."""

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def push(self, checkpoint: StoredCheckpoint) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        async with self._session.post(
            self.url, data=checkpoint.note.encode(), headers={"Content-Type": "text/plain; charset=utf-8"}
        ) as resp:
            resp.raise_for_status()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def read_witness_file(path: Path) -> list[StoredCheckpoint]:
    """Every checkpoint a file witness holds, in the order written; a torn last line is skipped."""
    found: list[StoredCheckpoint] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                found.append(StoredCheckpoint.from_json(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                log.warning("witness file %s line %d is not a checkpoint; skipped", path, number)
    return found
