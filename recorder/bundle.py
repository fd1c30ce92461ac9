"""Evidence bundles, the recording half: which sealed segments and gaps a window holds, the
segments copied untouched into a zip (re-hashed while copied, checked against the index), and
the manifest that lists them. The access-log half is policy/audit/bundleproof.py; evidence/bundles.py
puts the two together; recorder/bundlecheck.py checks this half offline.

The files go in byte for byte: no remux, no cut. A court gets the recorder's own files, whose
SHA-256 the index (and the access log's `segment_sealed` entries) recorded when they were sealed.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.errors import PantauError
from core.utctime import format_utc
from recorder.index import SegmentIndex
from recorder.models import Deletion, Gap, Segment
from recorder.reader import TOUCH
from recorder.store import SegmentStore

FORMAT = "pantau-evidence/1"
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
SEGMENT_DIR = "segments/"
RETENTION_PREFIX = "deleted by retention"
CHUNK = 1 << 20  # read size while hashing


class BundleError(PantauError):
    """An export that cannot be made: nothing recorded, an unknown camera, a segment failing its hash."""

    title = "Export failed"
    kind = "export-failed"


class BundleCancelled(PantauError):
    """Someone stopped the export while its segments were being copied; nothing is kept."""

    status = 409
    kind = "export-cancelled"
    title = "Export cancelled"


@dataclass(frozen=True, slots=True)
class Hole:
    """A part of the window with no footage in the bundle, and why."""

    start: datetime
    end: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class CameraPlan:
    """One camera's share of a bundle: its segments overlapping the window and the holes between."""

    camera: str
    segments: tuple[Segment, ...]
    holes: tuple[Hole, ...]


def bundle_path(seg: Segment) -> str:
    """Where a segment sits in the bundle: its storage path under segments/."""
    return SEGMENT_DIR + seg.path


def holes(
    segments: Sequence[Segment], gaps: Sequence[Gap], deletions: Sequence[Deletion], start: datetime, end: datetime
) -> list[Hole]:
    """The parts of [start, end) no segment covers, each with the recorded reasons (gap rows, retention)."""
    out: list[Hole] = []
    cursor = start
    for seg in [*segments, None]:
        until = end if seg is None else seg.start
        if until - cursor > TOUCH:
            out.append(Hole(cursor, until, _why(gaps, deletions, cursor, until)))
        if seg is not None:
            cursor = max(cursor, seg.end)
    return out


def _why(gaps: Sequence[Gap], deletions: Sequence[Deletion], start: datetime, end: datetime) -> str:
    reasons = [g.reason for g in gaps if g.start < end and (g.end is None or g.end > start)]
    reasons += [f"{RETENTION_PREFIX} ({d.reason}, sha256 {d.sha256})" for d in deletions
                if d.start < end and d.end > start]
    return "; ".join(dict.fromkeys(reasons)) or "no recording"


async def plan_bundle(
    db: async_sessionmaker[AsyncSession], clock: Clock, cameras: Sequence[str], start: datetime, end: datetime,
    known: Callable[[str], bool] = lambda _: False, stream_of: Callable[[str], str] = lambda _: "main",
) -> list[CameraPlan]:
    """What a bundle of `cameras` over [start, end) holds; BundleError if a camera is unknown or nothing
    was recorded. `known(camera)` says whether a camera without any segment is configured;
    `stream_of(camera)` which of its streams is exported (the main one unless it records only its sub)."""
    index = SegmentIndex(db, clock)
    plans = []
    for camera in dict.fromkeys(cameras):
        stream = stream_of(camera)
        if (await index.tail(camera, stream)).sha256 is None and not known(camera):
            raise BundleError(f"camera {camera!r} is not configured and has no recordings")
        segments = await index.segments(camera, start, end, stream)
        gaps = await index.gaps(camera, start, end, stream)
        async with db() as session:
            deletions = list((await session.scalars(select(Deletion).where(
                Deletion.camera_id == camera, Deletion.start < end, Deletion.end > start,
            ).order_by(Deletion.start))).all())
        plans.append(CameraPlan(camera, tuple(segments), tuple(holes(segments, gaps, deletions, start, end))))
    if not any(p.segments for p in plans):
        raise BundleError(f"no sealed recording of {', '.join(p.camera for p in plans)} between "
                          f"{format_utc(start)} and {format_utc(end)}; nothing to export")
    return plans


def copy_segments(
    zf: zipfile.ZipFile, store: SegmentStore, plans: Sequence[CameraPlan], advance: Callable[[int], None],
    cancelled: Callable[[], bool] = lambda: False, segment_done: Callable[[Segment], None] | None = None,
) -> None:
    """Copy every planned segment into the zip, stored (not compressed), hashing the bytes as they
    go; BundleError naming the segment if one differs from its index row, BundleCancelled when
    `cancelled()` says so (asked before every block). Blocking: run in a thread."""
    for plan in plans:
        for seg in plan.segments:
            if cancelled():
                raise BundleCancelled("the export was cancelled")
            info = zipfile.ZipInfo(bundle_path(seg), seg.start.astimezone(UTC).timetuple()[:6])
            info.compress_type = zipfile.ZIP_STORED
            sha, size = hashlib.sha256(), 0
            try:
                with open(store.absolute(seg.path), "rb") as src, zf.open(info, "w", force_zip64=True) as dst:
                    while block := src.read(CHUNK):
                        if cancelled():
                            raise BundleCancelled("the export was cancelled")
                        sha.update(block)
                        dst.write(block)
                        size += len(block)
                        advance(len(block))
            except FileNotFoundError as exc:
                raise BundleError(f"segment {seg.path} (camera {seg.camera_id}) is in the index but not on disk; "
                                  "export aborted, no bundle written") from exc
            if sha.hexdigest() != seg.sha256 or size != seg.bytes:
                raise BundleError(
                    f"segment {seg.path} (camera {seg.camera_id}) does not match its index: sha256 "
                    f"{sha.hexdigest()} ({size} bytes) on disk, {seg.sha256} ({seg.bytes} bytes) when sealed; "
                    "export aborted, no bundle written (run `pantau verify-recordings`)")
            if segment_done is not None:
                segment_done(seg)


def manifest(
    plans: Sequence[CameraPlan], start: datetime, end: datetime, *, exported_at: datetime,
    exported_by: str, reason: str, case: str, gateway_version: str, files: Sequence[Mapping[str, Any]] = (),
    binding: Mapping[str, Any] | None = None, audio_withheld: bool = False,
) -> dict[str, Any]:
    """The bundle's table of contents: window, who and why, per camera its segments and gaps, and
    the other files the zip holds (`files`: e.g. MP4 copies and their frame times, each with at
    least its name in the zip, sha256 and bytes; recorder/mp4export.py file_entries). A bundle of
    MP4 copies only passes plans without segments: their gaps still say what was not recorded.
    `binding` (optional, absent from older bundles) says on whose authority the copy was made:
    via, request, letter, approvers, recipient, case, job. `audio_withheld` (only when true): the
    policy left the recorded sound out of the copies (no_audio)."""
    segments = [s for p in plans for s in p.segments]
    doc: dict[str, Any] = {
        "format": FORMAT,
        "gateway": {"name": "pantau", "version": gateway_version},
        "exported_at": format_utc(exported_at),
        "exported_by": exported_by,
        "reason": reason,
        "case": case,
        "window": {"start": format_utc(start), "end": format_utc(end)},
        "totals": {"segments": len(segments), "bytes": sum(s.bytes for s in segments)},
        "cameras": [
            {
                "id": p.camera,
                "segments": [
                    {"path": bundle_path(s), "start": format_utc(s.start), "end": format_utc(s.end), "bytes": s.bytes,
                     "sha256": s.sha256, "prev_sha256": s.prev_sha256, "status": s.status, "codec": s.codec,
                     "width": s.width, "height": s.height, "audio_codec": s.audio_codec,
                     "audio_source_codec": s.audio_source_codec}
                    for s in p.segments
                ],
                "gaps": [{"start": format_utc(h.start), "end": format_utc(h.end), "reason": h.reason} for h in p.holes],
            }
            for p in plans
        ],
        "files": [dict(f) for f in files],
    }
    if binding is not None:
        doc["binding"] = dict(binding)
    if audio_withheld:
        doc["audio_withheld"] = True
    return doc


def manifest_bytes(doc: dict[str, Any]) -> bytes:
    """The manifest as stored in the bundle; its SHA-256 goes into the access log."""
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def sums_text(doc: dict[str, Any]) -> str:
    """`sha256sum -c` input for every segment and file in the manifest (a convenience; the manifest rules)."""
    segments = "".join(f"{s['sha256']}  {s['path']}\n" for cam in doc["cameras"] for s in cam["segments"])
    return segments + "".join(f"{f['sha256']}  {f['name']}\n" for f in doc.get("files", ()))
