"""`pantau export` and `pantau verify-bundle`: evidence bundles that an outside party checks offline.

Composes the recording half (recorder/bundle.py: original segments and the manifest) with the
access-log half (policy/audit/bundleproof.py: the export's entry, its inclusion proof, the signed
checkpoint and the public key). The zip is written under a temporary name and renamed into
place only when complete, so a failed export leaves no bundle behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import hashlib
import json
import logging
import os
import sys
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from core.clock import SystemClock
from core.config import Settings
from core.db import make_engine, make_sessionmaker
from core.errors import PantauError
from core.version import gateway_version
from policy.audit.setup import key_path, open_access_log
from evidence.readme import readme_text
from evidence.recordinglog import RecordingLog
from policy.audit.bundleproof import MANIFEST_DIGEST, ExportProof, check_proof, log_export
from policy.audit.entries import AccessAction, AccessEvent, Scalar
from policy.audit.signingkey import load_or_create_key, load_verifier, public_key_text
from recorder.bundle import (
    MANIFEST,
    SUMS,
    BundleError,
    CameraPlan,
    copy_segments,
    manifest,
    manifest_bytes,
    plan_bundle,
    sums_text,
)
from recorder.bundlecheck import check_segments
from recorder.holds import HoldStore
from recorder.store import SegmentStore

log = logging.getLogger(__name__)

README = "README.txt"


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """What the operator asked for on the command line."""

    cameras: tuple[str, ...]
    start: datetime
    end: datetime
    out: Path
    by: str
    reason: str
    case: str
    #: Place an evidence hold on the exported range, so retention never deletes the originals.
    hold: bool = True


@contextlib.contextmanager
def _progress(total: int, show: bool) -> Iterator[Callable[[int], None]]:
    """A byte progress bar on stderr (nothing when `show` is false); yields `advance(n)`."""
    columns = (TextColumn("copying segments"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), disable=not show) as bar:
        task = bar.add_task("copy", total=total)
        yield lambda n: bar.advance(task, n)


def _event(req: ExportRequest, plans: Sequence[CameraPlan], digest: str, failure: str) -> AccessEvent:
    """The export's log entry: window, cameras, who and why, and the manifest's SHA-256 (or the failure)."""
    segments = [s for p in plans for s in p.segments]
    details: dict[str, Scalar] = {
        "via": "cli", "os_user": getpass.getuser(), "cameras": ",".join(req.cameras), "case": req.case,
        "bundle": req.out.name, "segments": len(segments), "bytes": sum(s.bytes for s in segments),
    }
    if failure:
        details["purpose"] = req.reason
    if digest:
        details[MANIFEST_DIGEST] = digest
    return AccessEvent(
        AccessAction.EXPORT, actor=req.by, camera=req.cameras[0] if len(req.cameras) == 1 else None,
        start=req.start, end=req.end, outcome="error" if failure else "ok", reason=failure or req.reason,
        details=details,
    )


async def export_bundle(
    settings: Settings, req: ExportRequest, show_progress: bool
) -> tuple[dict[str, Any], ExportProof]:
    """Write the bundle to `req.out`; BundleError (nothing written) when it cannot be made."""
    if req.out.exists():
        raise BundleError(f"{req.out} exists; an evidence bundle is never overwritten")
    clock = SystemClock()
    engine = make_engine(settings.database_url)
    tmp = req.out.with_name(f".{req.out.name}.{os.getpid()}.partial")
    try:
        db = make_sessionmaker(engine)
        configured = {c.id for c in settings.cameras}
        plans = await plan_bundle(db, clock, req.cameras, req.start, req.end, configured.__contains__)
        access_log = await open_access_log(settings, engine, clock)
        if req.hold:
            # Before copying: retention must not delete an original while it is being exported,
            # nor after (the bundle is a copy; the record stays the reference). Released only by
            # a supervisor through /api/v1/holds, like every hold.
            holds = HoldStore(db, clock, RecordingLog(access_log))
            why = f"evidence export{' ' + req.case if req.case else ''}: {req.reason or 'no reason given'}"
            for camera in req.cameras:
                await holds.place(camera, req.start, req.end, why, req.by)
        total = sum(s.bytes for p in plans for s in p.segments)
        with zipfile.ZipFile(tmp, "x", zipfile.ZIP_DEFLATED) as zf:
            try:
                with _progress(total, show_progress) as advance:
                    await asyncio.to_thread(copy_segments, zf, SegmentStore(settings.storage.path), plans, advance)
            except BundleError as exc:
                # The failed attempt is a fact for the auditor too.
                await access_log.record(_event(req, plans, "", exc.detail))
                await access_log.checkpoint()
                raise
            doc = manifest(plans, req.start, req.end, exported_at=clock.now(), exported_by=req.by,
                           reason=req.reason, case=req.case, gateway_version=gateway_version())
            raw = manifest_bytes(doc)
            digest = hashlib.sha256(raw).hexdigest()
            key = await asyncio.to_thread(load_or_create_key, key_path(settings))
            public = public_key_text(key, settings.access_log.origin)
            proof = await log_export(access_log, engine, _event(req, plans, digest, ""), public)
            members = {MANIFEST: raw, SUMS: sums_text(doc).encode(), **proof.files(),
                       README: readme_text(doc, digest, proof).encode()}
            await asyncio.to_thread(_write_members, zf, members)
        await asyncio.to_thread(_publish, tmp, req.out)
        return doc, proof
    finally:
        tmp.unlink(missing_ok=True)
        await engine.dispose()


def _write_members(zf: zipfile.ZipFile, members: dict[str, bytes]) -> None:
    for name, data in members.items():
        zf.writestr(name, data)


def _publish(tmp: Path, out: Path) -> None:
    """Make the finished zip durable, then give it its name."""
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, out)


def export_cli(settings: Settings, req: ExportRequest, quiet: bool, out: TextIO | None = None) -> int:
    """CLI `pantau export`: 0 with a summary on stdout, 1 naming the problem on stderr."""
    out = out or sys.stdout
    show = not quiet and sys.stderr.isatty()
    try:
        doc, proof = asyncio.run(export_bundle(settings, req, show))
    except (PantauError, OSError) as exc:
        print(f"pantau export: {getattr(exc, 'detail', exc)}", file=sys.stderr)
        return 1
    gaps = sum(len(c["gaps"]) for c in doc["cameras"])
    print(f"{req.out}: {doc['totals']['segments']} segment(s), {doc['totals']['bytes']} bytes, {gaps} gap(s); "
          f"access log entry {proof.entry.seq} in signed checkpoint {proof.checkpoint.size}", file=out)
    if req.hold:
        print("the exported range is under an evidence hold (a supervisor releases it: POST /api/v1/holds/{id}/release)", file=out)
    return 0


def verify_bundle(path: Path, public_key: Path | None, out: TextIO | None = None) -> int:
    """CLI `pantau verify-bundle`: offline, no database; 0 when everything verifies, else 1 naming the first problem."""
    out = out or sys.stdout
    try:
        with zipfile.ZipFile(path) as zf:
            raw = zf.read(MANIFEST)
            doc = json.loads(raw)
            if not isinstance(doc, dict):
                raise ValueError(f"{MANIFEST} is not a JSON object")
            problems = check_segments(zf, doc)
            proof = ExportProof.from_files(zf.read)
    except (OSError, zipfile.BadZipFile) as exc:
        print(f"verify-bundle: cannot read {path}: {exc}", file=out)
        return 1
    except (KeyError, ValueError, TypeError) as exc:
        print(f"bundle INVALID: a member is missing or malformed: {exc}", file=out)
        return 1
    trusted = None
    if public_key is not None:
        try:
            trusted = load_verifier(public_key, proof.checkpoint.note.split("\n", 1)[0])
        except (OSError, ValueError, PantauError) as exc:
            print(f"verify-bundle: cannot read the public key {public_key}: {exc}", file=out)
            return 1
    log_problems, checkpoint = check_proof(proof, hashlib.sha256(raw).hexdigest(), trusted)
    problems += log_problems
    if problems:
        print(f"bundle INVALID: {problems[0]}", file=out)
        for problem in problems[1:10]:
            print(f"  also: {problem}", file=out)
        return 1
    assert checkpoint is not None
    cams = ", ".join(c["id"] for c in doc["cameras"])
    gaps = sum(len(c["gaps"]) for c in doc["cameras"])
    print(f"bundle OK: {doc['totals']['segments']} segment(s) of {cams} from {doc['window']['start']} to "
          f"{doc['window']['end']}, {gaps} gap(s); export is access log entry {proof.entry.seq}, included in the "
          f"checkpoint of {checkpoint.size} entries signed by {checkpoint.origin} "
          f"({'trusted' if trusted else 'bundled'} key)", file=out)
    return 0
