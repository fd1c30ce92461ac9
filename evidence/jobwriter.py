"""Writing one evidence zip, for `pantau export` and for export jobs alike.

The zip holds the original sealed segments (`bundle`: recorder/bundle.py) and/or a plain MP4 per
continuous recording of each camera with a UTC time-code track and its frames CSV (`mp4`:
recorder/mp4export.py, listed under the manifest's `files`), the manifest bound to who made the
copy and on what authority, SHA256SUMS, README and the export's access-log entry with its
inclusion proof and signed checkpoint (policy/audit/bundleproof.py). When the decision withholds
the sound (`BundleOrder.audio` false: no_audio) the MP4s are video only and sealed segments that
hold sound are refused (they cannot be altered). It is written under a
temporary name and renamed into place only when complete: a failed or cancelled export leaves no
file behind. Copying asks `cancelled()` before every block and reports progress as it goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import zipfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from core.durablefile import publish_hashed
from core.clock import Clock
from core.errors import PantauError
from core.version import gateway_version
from evidence.readme import readme_text
from policy.audit.accesslog import AccessLog
from policy.audit.bundleproof import MANIFEST_DIGEST, ExportProof, log_export
from policy.audit.entries import AccessAction, AccessEvent, Scalar
from recorder.bundle import (
    MANIFEST,
    SUMS,
    BundleCancelled,
    BundleError,
    CameraPlan,
    copy_segments,
    manifest,
    manifest_bytes,
    sums_text,
)
from recorder.export_stream import PacketSource
from recorder.models import Segment
from recorder.reader import SegmentOpener
from recorder.mp4export import ExportCancelled, Mp4Result, export_mp4, file_entries, frames_csv
from recorder.store import SegmentStore

log = logging.getLogger(__name__)

README = "README.txt"
BUNDLE = "bundle"
MP4 = "mp4"
FORMATS = (BUNDLE, MP4)
MP4_DIR = "mp4/"


def planned_work(plans: Sequence[CameraPlan], formats: Sequence[str]) -> tuple[int, int]:
    """(bytes, segments) a job's progress counts to: the segments are read once per format."""
    segments = [s for p in plans for s in p.segments]
    return sum(s.bytes for s in segments) * len(formats), len(segments) * len(formats)


@dataclass(frozen=True, slots=True)
class Binding:
    """Who made a copy and on whose authority: the signed-in user (never a self-declared name), a
    disposition's grantee (`via` token), or the operator at a shell (`via` cli)."""

    exported_by: str
    via: str  # cli | user | token
    role: str | None = None
    client: str | None = None
    os_user: str = ""
    organisation: str = ""
    request_id: str | None = None
    token_id: str | None = None
    letter_sha256: str = ""
    approvers: tuple[str, ...] = ()
    case_id: str = ""
    job_id: str | None = None
    #: The CLI's `exported_by` came from --by: declared, not checked (logged as by_declared: cli).
    by_declared: bool = False

    def manifest_fields(self) -> dict[str, Any] | None:
        """The manifest's `binding` object; None for the CLI, whose manifest keeps its old shape."""
        if self.via == "cli":
            return None
        return {
            "via": self.via, "exported_by": self.exported_by, "role": self.role,
            "recipient": {"name": self.exported_by, "organisation": self.organisation} if self.via == "token" else None,
            "request_id": self.request_id, "token_id": self.token_id, "letter_sha256": self.letter_sha256 or None,
            "approvers": list(self.approvers), "case_id": self.case_id or None, "job_id": self.job_id,
        }

    def log_details(self) -> dict[str, Scalar]:
        """What the export's access-log entry adds about the authority (empty values left out)."""
        details: dict[str, Scalar] = {"via": self.via}
        extra: dict[str, Scalar] = {
            "os_user": self.os_user, "organisation": self.organisation, "letter_sha256": self.letter_sha256,
            "approvers": ",".join(self.approvers), "job_id": self.job_id,
        }
        details.update({k: v for k, v in extra.items() if v})
        if self.by_declared:
            details["by_declared"] = "cli"
        return details


@dataclass(frozen=True, slots=True)
class BundleOrder:
    """One zip to write: cameras and window, why, and the binding."""

    cameras: tuple[str, ...]
    start: datetime
    end: datetime
    reason: str
    case: str
    name: str  # the zip's file name, as logged
    binding: Binding
    formats: tuple[str, ...] = (BUNDLE,)
    #: The decision lets the copy carry the recorded sound; False (no_audio): MP4s are video only and
    #: sealed segments holding sound cannot be bundled.
    audio: bool = True


class Progress(Protocol):
    """Told about the copying as it happens (from a worker thread)."""

    def copied(self, nbytes: int) -> None: ...

    def segment_done(self) -> None: ...


@dataclass
class Counter:
    """A Progress that counts; read from the loop while a worker thread adds (ints: no lock needed)."""

    bytes_done: int = 0
    segments_done: int = 0

    def copied(self, nbytes: int) -> None:
        self.bytes_done += nbytes

    def segment_done(self) -> None:
        self.segments_done += 1


@dataclass(frozen=True, slots=True)
class Written:
    """A finished zip: its manifest, the export's log proof, and the file's size and SHA-256."""

    doc: dict[str, Any]
    proof: ExportProof
    manifest_sha256: str
    size: int
    sha256: str
    segments: int = 0
    nbytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def export_event(order: BundleOrder, plans: Sequence[CameraPlan], digest: str, failure: str,
                 audio: bool = False) -> AccessEvent:
    """The export's log entry: window, cameras, who, on what authority and why, whether the copy
    carries sound (`audio`; `no_audio` when the policy withheld it), and the manifest's SHA-256
    (or the failure)."""
    segments = [s for p in plans for s in p.segments]
    b = order.binding
    details: dict[str, Scalar] = {
        **b.log_details(), "cameras": ",".join(order.cameras), "case": order.case, "bundle": order.name,
        "segments": len(segments), "bytes": sum(s.bytes for s in segments), "audio": audio,
    }
    if not order.audio:
        details["no_audio"] = True
    if order.formats != (BUNDLE,):
        details["formats"] = ",".join(order.formats)
    if failure:
        details["purpose"] = order.reason
    if digest:
        details[MANIFEST_DIGEST] = digest
    return AccessEvent(
        AccessAction.EXPORT, actor=b.exported_by, role=b.role, client=b.client,
        camera=order.cameras[0] if len(order.cameras) == 1 else None, start=order.start, end=order.end,
        outcome="error" if failure else "ok", reason=failure or order.reason, token_id=b.token_id,
        request_id=b.request_id, details=details,
    )


class BundleWriter:
    """Writes evidence zips against one access log and one segment store."""

    def __init__(self, access_log: AccessLog, engine: AsyncEngine, store: SegmentStore, public_key: str,
                 clock: Clock, source: PacketSource | None = None, files: SegmentOpener | None = None) -> None:
        self._log = access_log
        self._engine = engine
        self._store = store
        #: Where segments are read from (storage.object: fetched back from the store when not local).
        self._files = files
        self._public_key = public_key
        self._clock = clock
        self._source = source

    @contextlib.asynccontextmanager
    async def _local(self, plans: Sequence[CameraPlan]) -> AsyncIterator[None]:
        """Every planned segment on local disk (fetched from the object store if need be) until the
        block ends; the copy then reads and checks them as always."""
        async with contextlib.AsyncExitStack() as stack:
            if self._files is not None:
                for seg in (s for p in plans for s in p.segments):
                    try:
                        await stack.enter_async_context(self._files.opened(seg))
                    except PantauError as exc:
                        raise BundleError(f"segment {seg.path} (camera {seg.camera_id}) cannot be read: "
                                          f"{exc.detail}; export aborted, no bundle written") from exc
            yield

    @property
    def formats(self) -> frozenset[str]:
        """What this writer can put in a zip (MP4 copies need the segment reader)."""
        return frozenset({BUNDLE, MP4} if self._source is not None else {BUNDLE})

    async def write(
        self, plans: Sequence[CameraPlan], order: BundleOrder, out: Path, tmp: Path, progress: Progress,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> Written:
        """Write the zip to `tmp`, then rename it to `out`. BundleError (logged) or BundleCancelled
        (not logged here: the caller says who stopped it) leave neither file."""
        if await asyncio.to_thread(out.exists):
            raise BundleError(f"{out.name} exists; an evidence bundle is never overwritten")
        if MP4 in order.formats and self._source is None:
            raise BundleError("this writer has no segment reader for MP4 copies")
        mp4s: list[tuple[str, Mp4Result]] = []
        try:
            with zipfile.ZipFile(tmp, "x", zipfile.ZIP_DEFLATED) as zf:
                try:
                    if BUNDLE in order.formats and not order.audio:
                        refuse_sound(plans)
                    if BUNDLE in order.formats:
                        async with self._local(plans):
                            await asyncio.to_thread(_copy, zf, self._store, plans, progress, cancelled)
                    if MP4 in order.formats:
                        mp4s = await self._mp4s(plans, order, tmp, progress, cancelled)
                        await asyncio.to_thread(_add_mp4s, zf, mp4s)
                except BundleError as exc:
                    # The failed attempt is a fact for the auditor too.
                    await self._log.record(export_event(order, plans, "", exc.detail))
                    await self._log.checkpoint()
                    raise
                if cancelled():
                    raise BundleCancelled("the export was cancelled")
                listed = plans if BUNDLE in order.formats else [CameraPlan(p.camera, (), p.holes) for p in plans]
                files = [e for name, r in mp4s for e in file_entries(r, name, _csv_name(name))]
                doc = manifest(listed, order.start, order.end, exported_at=self._clock.now(),
                               exported_by=order.binding.exported_by, reason=order.reason, case=order.case,
                               gateway_version=gateway_version(), files=files,
                               binding=order.binding.manifest_fields(), audio_withheld=not order.audio)
                raw = manifest_bytes(doc)
                digest = hashlib.sha256(raw).hexdigest()
                sound = any(r.audio for _, r in mp4s) or (
                    BUNDLE in order.formats and any(s.audio_codec for p in plans for s in p.segments))
                proof = await log_export(self._log, self._engine, export_event(order, plans, digest, "", sound),
                                         self._public_key)
                members = {MANIFEST: raw, SUMS: sums_text(doc).encode(), **proof.files(),
                           README: readme_text(doc, digest, proof).encode()}
                await asyncio.to_thread(_write_members, zf, members)
            size, sha256 = await asyncio.to_thread(publish_hashed, tmp, out, replace=True)
        finally:
            await asyncio.to_thread(tmp.unlink, True)
            for _, result in mp4s:
                await asyncio.to_thread(result.path.unlink, True)
        segments = [s for p in plans for s in p.segments]
        return Written(doc, proof, digest, size, sha256, len(segments), sum(s.bytes for s in segments))

    async def _mp4s(self, plans: Sequence[CameraPlan], order: BundleOrder, tmp: Path, progress: Progress,
                    cancelled: Callable[[], bool]) -> list[tuple[str, Mp4Result]]:
        """Each camera's MP4s, written beside `tmp` (the caller deletes them): (name in the zip, result)."""
        assert self._source is not None
        out: list[tuple[str, Mp4Result]] = []

        def read(nbytes: int) -> None:  # called as each segment is opened, with its size
            progress.copied(nbytes)
            progress.segment_done()
        try:
            for plan in plans:
                if not plan.segments:
                    continue
                results = await export_mp4(self._source, plan.camera, plan.camera, order.start, order.end,
                                           tmp.with_name(f"{tmp.name}-{plan.camera}.mp4"), read, cancelled,
                                           audio=order.audio)
                for number, result in enumerate(results, 1):
                    out.append((f"{MP4_DIR}{plan.camera}{'' if number == 1 else f'-{number}'}.mp4", result))
        except ExportCancelled as exc:
            for _, result in out:
                await asyncio.to_thread(result.path.unlink, True)
            raise BundleCancelled("the export was cancelled") from exc
        except BaseException:
            for _, result in out:
                await asyncio.to_thread(result.path.unlink, True)
            raise
        return out


SOUND_REFUSAL = ("the policy withholds the sound (no_audio) and the sealed segments of {cameras} hold sound; "
                 "a bundle holds the original segments, which cannot be altered: ask for the mp4 format, "
                 "which leaves the sound out")


def refuse_sound(plans: Sequence[CameraPlan]) -> None:
    """BundleError when a bundle of `plans` would hand over sound (its segments hold an audio track)."""
    cameras = [p.camera for p in plans if any(s.audio_codec for s in p.segments)]
    if cameras:
        raise BundleError(SOUND_REFUSAL.format(cameras=", ".join(cameras)))


def _copy(zf: zipfile.ZipFile, store: SegmentStore, plans: Sequence[CameraPlan], progress: Progress,
          cancelled: Callable[[], bool]) -> None:
    def done(_seg: Segment) -> None:
        progress.segment_done()

    copy_segments(zf, store, plans, progress.copied, cancelled, done)


def _csv_name(mp4_name: str) -> str:
    return mp4_name.removesuffix(".mp4") + ".frames.csv"


def _add_mp4s(zf: zipfile.ZipFile, mp4s: Sequence[tuple[str, Mp4Result]]) -> None:
    """The MP4s stored (not compressed: they are compressed video) and their frames CSVs."""
    for name, result in mp4s:
        zf.write(result.path, name, compress_type=zipfile.ZIP_STORED)
        zf.writestr(_csv_name(name), frames_csv(result))


def _write_members(zf: zipfile.ZipFile, members: dict[str, bytes]) -> None:
    for name, data in members.items():
        zf.writestr(name, data)


