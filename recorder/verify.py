"""`verify-recordings` and `reindex`: the index, the files and the per-camera chains agree."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import TextIO, TypeVar

import av
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import SystemClock
from core.config import Settings
from core.db import make_engine, make_sessionmaker
from core.progress import QUIET, ProgressBars
from recorder.index import SegmentIndex
from recorder.models import Deletion, Segment, SegmentObject
from recorder.objectstore import ObjectMissing, ObjectStore, ObjectStoreError
from recorder.recovery import describe_file
from recorder.segment import META_KEY, SegmentMeta
from recorder.segmentfile import hash_file
from recorder.store import SegmentStore

log = logging.getLogger(__name__)
T = TypeVar("T")

OVERLAP_TOLERANCE = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One disagreement, naming the segment."""

    camera: str
    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.camera} {self.path}: {self.problem}"


def _file_meta(path: str) -> SegmentMeta | None:
    try:
        with av.open(path, format="mp4") as container:
            return SegmentMeta.from_json(container.metadata.get(META_KEY))
    except (av.error.FFmpegError, OSError):
        return None


def _check_file(path: str, seg_sha: str, seg_bytes: int) -> list[str]:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return ["file missing"]
    problems = []
    if st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        problems.append("file is writable (sealed segments are read-only)")
    sha, size = hash_file(Path(path))
    if size != seg_bytes:
        problems.append(f"size {size} != indexed {seg_bytes}")
    if sha != seg_sha:
        problems.append(f"sha256 {sha} != indexed {seg_sha}")
    return problems


async def verify_index(
    db: async_sessionmaker[AsyncSession], store: SegmentStore, bars: ProgressBars = QUIET,
    objects: ObjectStore | None = None,
) -> list[Mismatch]:
    """Re-hash every indexed segment (and, with `objects`, every uploaded segment's object); check
    chains, headers, overlaps and unindexed files."""
    async with db() as session:
        # One chain per camera and stream (main, sub).
        rows = list((await session.scalars(select(Segment).order_by(Segment.camera_id, Segment.stream,
                                                                     Segment.start, Segment.id))).all())
        deleted = {(d.camera_id, d.sha256) for d in (await session.scalars(select(Deletion))).all()}
        uploaded = {o.segment_id: o for o in (await session.scalars(select(SegmentObject))).all()}
    with bars.bar("verifying segments", sum(seg.bytes for seg in rows), "bytes") as advance:
        out = await _verify_rows(rows, deleted, store, advance, uploaded)
    if objects is not None:
        with bars.bar("verifying objects", sum(seg.bytes for seg in rows if seg.id in uploaded), "bytes") as advance:
            out += await verify_objects(objects, [(seg, uploaded[seg.id]) for seg in rows if seg.id in uploaded],
                                        advance)
    known = {seg.path for seg in rows}
    for file in await asyncio.to_thread(lambda: list(store.finals())):
        rel = store.relative(file)
        if rel not in known:
            out.append(Mismatch(rel.split("/", 1)[0], rel, "on disk but not in the index"))
    return out


async def verify_objects(
    objects: ObjectStore, pairs: list[tuple[Segment, SegmentObject]], advance: Callable[[int], None] = lambda _: None
) -> list[Mismatch]:
    """Read every uploaded segment's object back and compare its SHA-256 and size with the index."""
    out: list[Mismatch] = []
    for seg, obj in pairs:
        try:
            sha, size = await objects.digest(obj.key, obj.version_id)
        except ObjectMissing:
            out.append(Mismatch(seg.camera_id, seg.path, f"object {obj.key} (version {obj.version_id}) missing "
                                                         "from the store"))
        except ObjectStoreError as exc:
            out.append(Mismatch(seg.camera_id, seg.path, f"object {obj.key} could not be read: {exc}"))
        else:
            if size != seg.bytes:
                out.append(Mismatch(seg.camera_id, seg.path, f"object {obj.key}: size {size} != indexed {seg.bytes}"))
            if sha != seg.sha256:
                out.append(Mismatch(seg.camera_id, seg.path, f"object {obj.key}: sha256 {sha} != indexed {seg.sha256}"))
        advance(seg.bytes)
    return out


async def _verify_rows(
    rows: list[Segment], deleted: set[tuple[str, str]], store: SegmentStore, advance: Callable[[int], None],
    uploaded: dict[int, SegmentObject],
) -> list[Mismatch]:
    out: list[Mismatch] = []
    previous: Segment | None = None
    for seg in rows:
        if previous is not None and (previous.camera_id, previous.stream) != (seg.camera_id, seg.stream):
            previous = None
        path = str(store.absolute(seg.path))
        problems = await asyncio.to_thread(_check_file, path, seg.sha256, seg.bytes)
        # Evicted from the local cache: the object is the copy (verify_objects reads it).
        local = not (problems == ["file missing"] and seg.id in uploaded)
        if not local:
            problems = []
        out += [Mismatch(seg.camera_id, seg.path, p) for p in problems]
        expected_prev = previous.sha256 if previous is not None else None
        # A prev_sha256 that names a segment retention deleted (logged with its hash) is fine.
        if seg.prev_sha256 != expected_prev and (seg.camera_id, seg.prev_sha256) not in deleted:
            out.append(Mismatch(seg.camera_id, seg.path,
                                f"chain broken: prev_sha256 {seg.prev_sha256} but previous segment is "
                                f"{expected_prev}"))
        if previous is not None and seg.start < previous.end - OVERLAP_TOLERANCE:
            out.append(Mismatch(seg.camera_id, seg.path, f"overlaps {previous.path}"))
        meta = await asyncio.to_thread(_file_meta, path) if local else None
        if local and (meta is not None or not problems):
            if meta is None:
                out.append(Mismatch(seg.camera_id, seg.path, "no readable segment header"))
            elif (meta.camera, meta.start, meta.prev_sha256, meta.stream) != (
                    seg.camera_id, seg.start, seg.prev_sha256, seg.stream):
                out.append(Mismatch(seg.camera_id, seg.path, "header (camera, start, prev_sha256, stream) differs "
                                                             "from the index"))
        previous = seg
        advance(seg.bytes)
    return out


async def reindex(
    db: async_sessionmaker[AsyncSession], store: SegmentStore, apply: bool = True, bars: ProgressBars = QUIET
) -> list[Mismatch]:
    """Rebuild the index from disk: add files it lacks (if `apply`); report every disagreement."""
    async with db() as session:
        rows = {s.path: s for s in (await session.scalars(select(Segment))).all()}
        deleted = {d.sha256 for d in (await session.scalars(select(Deletion))).all()}
        uploaded = set((await session.scalars(select(SegmentObject.segment_id))).all())
    files = await asyncio.to_thread(lambda: list(store.finals()))
    with bars.bar("reading segment files", len(files)) as advance:
        out, seen = await _reindex_files(db, store, files, rows, deleted, apply, advance)
    for rel, row in rows.items():
        if rel not in seen and row.id not in uploaded:  # an uploaded segment's local copy may be evicted
            out.append(Mismatch(row.camera_id, rel, "in the index but not on disk"))
    return out


async def _reindex_files(
    db: async_sessionmaker[AsyncSession], store: SegmentStore, files: list[Path], rows: dict[str, Segment],
    deleted: set[str], apply: bool, advance: Callable[[int], None],
) -> tuple[list[Mismatch], set[str]]:
    index = SegmentIndex(db, SystemClock())
    out: list[Mismatch] = []
    seen: set[str] = set()
    for path in files:
        advance(1)
        rel = store.relative(path)
        seen.add(rel)
        found = await asyncio.to_thread(describe_file, store, path)
        if found is None:
            out.append(Mismatch(rel.split("/", 1)[0], rel, "file on disk is not a readable segment"))
            continue
        row = rows.get(rel)
        if row is None:
            if found.sha256 in deleted:
                out.append(Mismatch(found.camera_id, rel, "deleted by retention but still on disk"))
                continue
            out.append(Mismatch(found.camera_id, rel, "not in the index" + ("; added" if apply else "")))
            if apply:
                await index.add(found)
            continue
        diffs = []
        if row.sha256 != found.sha256:
            diffs.append(f"sha256 on disk {found.sha256} != index {row.sha256}")
        if row.bytes != found.bytes:
            diffs.append(f"bytes on disk {found.bytes} != index {row.bytes}")
        if row.start != found.start:
            diffs.append(f"start on disk {found.start.isoformat()} != index {row.start.isoformat()}")
        if row.prev_sha256 != found.prev_sha256:
            diffs.append("prev_sha256 differs")
        if row.stream != found.stream:
            diffs.append(f"stream on disk {found.stream} != index {row.stream}")
        if abs((row.end - found.end).total_seconds()) > 0.5:
            diffs.append(f"end on disk {found.end.isoformat()} != index {row.end.isoformat()}")
        out += [Mismatch(row.camera_id, rel, d) for d in diffs]
    return out, seen


async def _with_db(settings: Settings, fn: Callable[..., Awaitable[T]], *args: object) -> T:
    engine = make_engine(settings.database_url)
    try:
        return await fn(make_sessionmaker(engine), SegmentStore(settings.storage.path), *args)
    finally:
        await engine.dispose()


async def _verify_all(settings: Settings, bars: ProgressBars) -> list[Mismatch]:
    if settings.storage.object is None:
        return await _with_db(settings, verify_index, bars)
    async with ObjectStore(settings.storage.object) as objects:
        return await _with_db(settings, verify_index, bars, objects)


def verify_recordings(settings: Settings, out: TextIO | None = None, bars: ProgressBars = QUIET) -> int:
    """CLI `pantau verify-recordings`: 0 when every segment (and, with storage.object, every uploaded
    segment's object) verifies, else 1 naming each mismatch."""
    out = out or sys.stdout
    mismatches = asyncio.run(_verify_all(settings, bars))
    for m in mismatches:
        print(f"MISMATCH {m}", file=out)
    print(f"{len(mismatches)} mismatch(es)" if mismatches else "all recordings verify", file=out)
    return 1 if mismatches else 0


def reindex_recordings(
    settings: Settings, apply: bool = True, out: TextIO | None = None, bars: ProgressBars = QUIET
) -> int:
    """CLI `pantau reindex`: rebuild the index from disk; 0 when disk and index already agreed."""
    out = out or sys.stdout
    mismatches = asyncio.run(_with_db(settings, reindex, apply, bars))
    for m in mismatches:
        print(f"DISAGREE {m}", file=out)
    print(f"{len(mismatches)} disagreement(s)" if mismatches else "index agrees with disk", file=out)
    return 1 if mismatches else 0
