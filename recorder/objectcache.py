"""Sealed segments' local copies once they are in the object store (storage.object): a segment that
is not on local disk is fetched back from the store in ranged GETs and hashed before anyone reads it,
and the least recently used local copies of uploaded and verified segments are evicted under the
cache budget. A segment not yet uploaded is never evicted: its local file is the only copy."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.errors import PantauError
from recorder.models import Segment, SegmentObject
from recorder.objectstore import ObjectMissing, ObjectStore, ObjectStoreError
from recorder.reader import SegmentCorrupt
from recorder.segmentfile import fsync_dir, seal_file
from recorder.store import SegmentStore

log = logging.getLogger(__name__)

#: Where fetched copies are written before they are verified and renamed into place.
FETCH_DIR = ".fetch"


class SegmentUnavailable(PantauError):
    """A sealed segment is not on local disk and the object store cannot hand it out now."""

    status = 503
    kind = "recording-unavailable"
    title = "Recording not available now"


class SegmentFiles:
    """Opens sealed segments for reading (`opened()`), from local disk or fetched from the store,
    and keeps the local copies of uploaded segments under `budget` bytes (`evict()`)."""

    def __init__(
        self, db: async_sessionmaker[AsyncSession], store: SegmentStore, objects: ObjectStore | None, budget: int
    ) -> None:
        self._db = db
        self._store = store
        self._objects = objects
        self.budget = budget
        #: Segment id -> bytes of local copies of uploaded, verified segments, least recently used first.
        self._cached: OrderedDict[int, int] = OrderedDict()
        self._pins: Counter[int] = Counter()
        self._fetching: dict[int, asyncio.Lock] = {}
        self.fetched_total = 0
        self.evicted_total = 0

    @property
    def cached_bytes(self) -> int:
        """Bytes of local copies that could be evicted (uploaded and verified)."""
        return sum(self._cached.values())

    @contextlib.asynccontextmanager
    async def opened(self, seg: Segment) -> AsyncIterator[Path]:
        """The local path of `seg` to read, fetched from the store first when it is not local; not
        evicted until the block ends. The caller still checks the bytes against the index."""
        self._pins[seg.id] += 1
        try:
            path = self._store.absolute(seg.path)
            if not await asyncio.to_thread(path.exists) and self._objects is not None:
                await self._fetch(seg, path)
            if seg.id in self._cached:
                self._cached.move_to_end(seg.id)
            yield path
        finally:
            self._pins[seg.id] -= 1
            if not self._pins[seg.id]:
                del self._pins[seg.id]

    async def fetch(self, seg: Segment) -> None:
        """Put `seg` on local disk if it is not (a reader in a worker thread then opens it itself)."""
        async with self.opened(seg):
            pass

    def note_uploaded(self, seg_id: int, size: int) -> None:
        """`seg_id`'s local file is now a cache copy (uploaded and verified): it may be evicted."""
        self._cached[seg_id] = size

    def forget(self, seg_id: int) -> None:
        """`seg_id` was deleted by retention."""
        self._cached.pop(seg_id, None)

    async def load(self) -> None:
        """Learn which local files are copies of uploaded segments (at start), oldest file first;
        remove fetches a crash interrupted."""
        await asyncio.to_thread(_clear_fetches, self._store.root / FETCH_DIR)
        async with self._db() as session:
            rows = (await session.execute(
                select(Segment.id, Segment.path, Segment.bytes).join(SegmentObject, SegmentObject.segment_id == Segment.id)
            )).all()

        def present() -> list[tuple[float, int, int]]:
            found = []
            for seg_id, rel, size in rows:
                try:
                    st = os.stat(self._store.absolute(rel))
                except FileNotFoundError:
                    continue
                found.append((st.st_mtime, seg_id, size))
            return sorted(found)

        for _, seg_id, size in await asyncio.to_thread(present):
            self._cached[seg_id] = size

    async def evict(self) -> int:
        """Delete least recently used local copies of uploaded segments until the cache fits its
        budget; returns the bytes freed. A copy in use, or without a verified object, stays."""
        freed = 0
        for seg_id in list(self._cached):
            if self.cached_bytes <= self.budget:
                break
            if self._pins[seg_id]:
                continue
            async with self._db() as session:
                row = (await session.execute(
                    select(Segment.path, Segment.sha256, SegmentObject.sha256)
                    .join(SegmentObject, SegmentObject.segment_id == Segment.id).where(Segment.id == seg_id)
                )).first()
            size = self._cached.pop(seg_id)
            if row is None or row[1] != row[2]:
                continue  # deleted meanwhile, or its object does not hold these bytes: never the only copy
            if self._pins[seg_id]:
                self._cached[seg_id] = size
                continue
            await asyncio.to_thread(_unlink, self._store.absolute(row[0]))
            freed += size
            self.evicted_total += 1
        if freed:
            log.info("object cache: evicted %d bytes of local copies (budget %d)", freed, self.budget)
        return freed

    async def _fetch(self, seg: Segment, path: Path) -> None:
        # One download per segment at a time; a reader that waited finds the file in place.
        lock = self._fetching.setdefault(seg.id, asyncio.Lock())
        async with lock:
            if await asyncio.to_thread(path.exists):
                return
            await self._download(seg, path)
        self._fetching.pop(seg.id, None)

    async def _download(self, seg: Segment, path: Path) -> None:
        assert self._objects is not None
        async with self._db() as session:
            obj = await session.get(SegmentObject, seg.id)
        if obj is None:
            raise SegmentUnavailable(f"segment {seg.path} is neither on local disk nor in the object store")
        temp = self._store.root / FETCH_DIR / f"{seg.id}-{secrets.token_hex(4)}-{Path(seg.path).name}.part"
        await asyncio.to_thread(temp.parent.mkdir, parents=True, exist_ok=True)
        step = self._objects.cfg.range_bytes
        sha = hashlib.sha256()
        fd = await asyncio.to_thread(os.open, temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        done = False
        try:
            for start in range(0, seg.bytes, step):
                end = min(start + step, seg.bytes)
                try:
                    data = await self._objects.read_range(obj.key, obj.version_id, start, end)
                except ObjectMissing as exc:
                    raise SegmentCorrupt(f"{seg.path}: its object is missing from the store ({exc})") from exc
                except ObjectStoreError as exc:
                    raise SegmentUnavailable(f"segment {seg.path} is not on local disk and {exc}") from exc
                if len(data) != end - start:
                    raise SegmentCorrupt(f"{seg.path}: the store returned {len(data)} bytes for {start}-{end}")
                await asyncio.to_thread(_write_hashed, fd, data, sha)
            digest = sha.hexdigest()
            if digest != seg.sha256:
                raise SegmentCorrupt(f"{seg.path}: the object's sha256 {digest} does not match the index ({seg.sha256})")
            await asyncio.to_thread(os.fsync, fd)
            done = True
        finally:
            await asyncio.to_thread(os.close, fd)
            if not done:
                await asyncio.to_thread(temp.unlink, missing_ok=True)
        try:
            await asyncio.to_thread(seal_file, temp, path)
        except FileExistsError:  # fetched by a reader that came after the lock was dropped
            await asyncio.to_thread(temp.unlink, missing_ok=True)
        self._cached[seg.id] = seg.bytes
        self.fetched_total += 1
        log.info("object cache: fetched %s (%d bytes) from the store", seg.path, seg.bytes,
                 extra={"camera": seg.camera_id})


def _write_hashed(fd: int, data: bytes, sha: hashlib._Hash) -> None:
    sha.update(data)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _clear_fetches(folder: Path) -> None:
    if folder.is_dir():
        for stale in folder.glob("*.part"):
            stale.unlink(missing_ok=True)


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    fsync_dir(path.parent)
