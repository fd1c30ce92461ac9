"""Pure helpers behind `pantau verify-log` and printing the log's public key."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TextIO

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from core.db import make_engine
from core.progress import QUIET, ProgressBars
from policy.audit.signingkey import load_verifier
from policy.audit.export import verify_export
from policy.audit.models import AccessLogEntry
from policy.audit.reader import iter_entries, read_checkpoints
from policy.audit.encoding import StoredCheckpoint
from policy.audit.verify import LogVerifier, VerifyResult
from policy.audit.signednote import NoteError, NoteVerifier
from policy.audit.witness import read_witness_file


def _witness(path: Path | None) -> list[StoredCheckpoint]:
    return read_witness_file(path) if path is not None and path.exists() else []


async def verify_database(
    url: str, verifier: NoteVerifier, *, origin: str | None = None, witness_file: Path | None = None,
    bars: ProgressBars = QUIET,
) -> VerifyResult:
    """Verify the log stored in the database at `url` (read-only)."""
    witness = await asyncio.to_thread(_witness, witness_file)
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            v = LogVerifier(verifier, await read_checkpoints(conn), origin=origin, witness=witness)
            total = await conn.scalar(select(func.count()).select_from(AccessLogEntry.__table__)) if bars.show else None
            with bars.bar("verifying log entries", total) as advance:
                async for entry in iter_entries(conn):
                    v.feed(entry)
                    advance(1)
    finally:
        await engine.dispose()
    return v.finish()


def verify_log(
    source: str | Path,
    public_key_path: Path,
    *,
    origin: str | None,
    fallback_origin: str = "pantau/access-log",
    witness_file: Path | None = None,
    out: TextIO | None = None,
    bars: ProgressBars = QUIET,
) -> int:
    """Verify a database URL or an export file; print the outcome and return the exit status (0 ok, 1 bad).
    The log's origin is `origin` when given, else the name in the key file's vkey line (a published
    key names its log), else `fallback_origin` (a bare PEM).

    Synchronous: call it from the CLI, outside any running event loop.
    """
    out = out or sys.stdout
    try:
        verifier = load_verifier(public_key_path, origin or fallback_origin)
        origin = origin or verifier.name
        if isinstance(source, Path) or "://" not in str(source):
            result = verify_export(Path(source), verifier, origin=origin, witness=_witness(witness_file), bars=bars)
        else:
            result = asyncio.run(verify_database(str(source), verifier, origin=origin, witness_file=witness_file,
                                                 bars=bars))
    except (OSError, ValueError, NoteError, SQLAlchemyError) as exc:
        print(f"verify-log: cannot verify: {exc}", file=out)
        return 1
    print(result.summary(), file=out)
    return 0 if result.ok else 1
