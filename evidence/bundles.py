"""`pantau export` and `pantau verify-bundle`: evidence bundles that an outside party checks offline.

Composes the recording half (recorder/bundle.py: original segments and the manifest) with the
access-log half (policy/audit/bundleproof.py: the export's entry, its inclusion proof, the signed
checkpoint and the public key). The zip is written under a temporary name and renamed into
place only when complete, so a failed export leaves no bundle behind.
"""

from __future__ import annotations

import asyncio
import getpass
import hashlib
import json
import logging
import os
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from core.clock import SystemClock
from core.config import Settings
from core.db import make_engine, make_sessionmaker
from core.errors import PantauError
from core.progress import ProgressBars
from policy.audit.setup import key_path, open_access_log
from evidence.jobwriter import Binding, BundleOrder, BundleWriter
from evidence.recordinglog import RecordingLog
from policy.audit.bundleproof import ExportProof, check_proof
from policy.audit.signingkey import load_or_create_key, load_verifier, public_key_text
from recorder.bundle import MANIFEST, BundleError, plan_bundle
from recorder.bundlecheck import check_segments, file_count
from recorder.holds import HoldStore
from recorder.store import SegmentStore

log = logging.getLogger(__name__)


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
    #: `by` was given on the command line (--by), not taken from the OS user: nobody checked it.
    by_declared: bool = False


def _order(req: ExportRequest) -> BundleOrder:
    return BundleOrder(req.cameras, req.start, req.end, req.reason, req.case, req.out.name,
                       Binding(req.by, "cli", os_user=getpass.getuser(), case_id=req.case,
                               by_declared=req.by_declared))


class _Bar:
    """A Progress for the rich bar."""

    def __init__(self, advance: Callable[[int], None]) -> None:
        self.copied = advance

    def segment_done(self) -> None:
        pass


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
        configured = {c.id: c.listed_stream for c in settings.cameras}
        plans = await plan_bundle(db, clock, req.cameras, req.start, req.end, configured.__contains__,
                                  lambda camera: configured.get(camera, "main"))
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
        key = await asyncio.to_thread(load_or_create_key, key_path(settings))
        writer = BundleWriter(access_log, engine, SegmentStore(settings.storage.path),
                              public_key_text(key, access_log.origin), clock)
        with ProgressBars(show_progress).bar("copying segments", total, "bytes") as advance:
            written = await writer.write(plans, _order(req), req.out, tmp, _Bar(advance))
        return written.doc, written.proof
    finally:
        tmp.unlink(missing_ok=True)
        await engine.dispose()


def export_cli(settings: Settings, req: ExportRequest, quiet: bool, out: TextIO | None = None) -> int:
    """CLI `pantau export`: 0 with a summary on stdout, 1 naming the problem on stderr."""
    out = out or sys.stdout
    try:
        doc, proof = asyncio.run(export_bundle(settings, req, ProgressBars.for_terminal(quiet).show))
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
    print(f"bundle OK: {doc['totals']['segments']} segment(s) and {file_count(doc)} other file(s) checked, of {cams} "
          f"from {doc['window']['start']} to {doc['window']['end']}, {gaps} gap(s); export is access log entry {proof.entry.seq}, included in the "
          f"checkpoint of {checkpoint.size} entries signed by {checkpoint.origin} "
          f"({'trusted' if trusted else 'bundled'} key)", file=out)
    return 0
