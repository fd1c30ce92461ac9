"""Export the access log (or a slice) as JSON lines that verify offline, and verify such a file.

Line 1 is a header; then checkpoint lines; then entry lines in seq order. A slice carries
the newest checkpoint as its anchor and an RFC 6962 inclusion proof of every entry in
it, so a reader with only the public key can check each entry on a machine with no
network. A whole-log export (first=0, to the tail) is also checked link by link and
against every checkpoint, exactly as the database is.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.ext.asyncio import AsyncEngine

from core.errors import NotFound
from core.progress import QUIET, ProgressBars
from policy.audit.encoding import LogEntry, StoredCheckpoint, leaf_of
from policy.audit.reader import iter_entries, load_tree, read_checkpoints
from policy.audit.verify import LogVerifier, Problem, VerifyResult
from policy.audit.merkle import verify_inclusion
from policy.audit.signednote import NoteError, NoteVerifier, open_checkpoint

FORMAT = "pantau-access-log/1"


async def export_log(
    engine: AsyncEngine,
    out: TextIO,
    *,
    first: int = 0,
    stop: int | None = None,
    with_proofs: bool = True,
) -> int:
    """Write entries first <= seq < stop (default: up to the newest checkpoint); returns the count."""
    async with engine.connect() as conn:
        checkpoints = await read_checkpoints(conn)
        if not checkpoints:
            raise NotFound("the log has no checkpoint yet; nothing verifiable to export")
        anchor = checkpoints[-1]
        stop = anchor.size if stop is None else stop
        if not 0 <= first <= stop <= anchor.size:
            raise NotFound(f"slice {first}..{stop} is not within the newest checkpoint ({anchor.size})")
        tree = await load_tree(conn, anchor.size) if with_proofs else None
        header = {"kind": "header", "format": FORMAT, "first": first, "stop": stop, "anchor_size": anchor.size}
        out.write(json.dumps(header, sort_keys=True) + "\n")
        for cp in checkpoints:
            if cp.size <= stop or cp is anchor:
                out.write(json.dumps({"kind": "checkpoint", **cp.to_json()}, sort_keys=True) + "\n")
        count = 0
        async for entry in iter_entries(conn, first, stop):
            line: dict[str, Any] = {"kind": "entry", **entry.to_json()}
            if tree is not None:
                line["proof"] = [h.hex() for h in tree.inclusion_proof(entry.seq, anchor.size)]
            out.write(json.dumps(line, sort_keys=True) + "\n")
            count += 1
    return count


def _lines(fh: TextIO) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(fh, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"line {number} is not JSON") from exc
        if not isinstance(obj, dict) or "kind" not in obj:
            raise ValueError(f"line {number} has no kind")
        yield obj


def verify_export(
    path: Path,
    verifier: NoteVerifier,
    *,
    origin: str | None = None,
    witness: list[StoredCheckpoint] | None = None,
    bars: ProgressBars = QUIET,
) -> VerifyResult:
    """Verify an export file offline: signatures, chain within the file, roots, inclusion proofs."""
    with path.open(encoding="utf-8") as fh, contextlib.ExitStack() as stack:
        lines = _lines(fh)
        header = next(lines, None)
        if header is None or header.get("kind") != "header" or header.get("format") != FORMAT:
            raise ValueError(f"{path} is not a {FORMAT} export")
        first, stop, anchor_size = int(header["first"]), int(header["stop"]), int(header["anchor_size"])
        advance = stack.enter_context(bars.bar("verifying log entries", stop - first))
        checkpoints: list[StoredCheckpoint] = []
        # A whole-log export answers to every witnessed checkpoint; a slice only to those inside it.
        whole = first == 0 and stop == anchor_size
        witnessed = [w for w in witness or () if whole or w.size <= stop]
        verifier_state: LogVerifier | None = None
        anchor_root: bytes | None = None
        anchor_problem: str | None = None
        for obj in lines:
            if obj["kind"] == "checkpoint":
                cp = StoredCheckpoint.from_json(obj)
                if cp.size == anchor_size:
                    try:
                        anchor_root = open_checkpoint(cp.note, verifier, origin).root_hash
                    except NoteError as exc:
                        anchor_problem = f"anchor checkpoint: {exc}"
                if cp.size <= stop:
                    checkpoints.append(cp)
                continue
            if obj["kind"] != "entry":
                continue
            if verifier_state is None:
                verifier_state = LogVerifier(
                    verifier, checkpoints, origin=origin, witness=witnessed, first=first
                )
            entry = LogEntry.from_json(obj)
            verifier_state.feed(entry)
            advance(1)
            proof = obj.get("proof")
            if proof is not None and anchor_root is not None:
                try:
                    hashes = [bytes.fromhex(h) for h in proof]
                except (TypeError, ValueError):
                    hashes = []
                if not verify_inclusion(leaf_of(entry.payload), entry.seq, anchor_size, hashes, anchor_root):
                    verifier_state.add_problem(entry.seq, f"inclusion proof against checkpoint {anchor_size} fails")
    if verifier_state is None:
        verifier_state = LogVerifier(verifier, checkpoints, origin=origin, witness=witnessed, first=first)
    result = verifier_state.finish()
    if anchor_root is None:
        result.problems.append(Problem(None, anchor_problem or f"anchor checkpoint of size {anchor_size} is missing"))
    if result.entries != stop - first:
        result.problems.append(
            Problem(first + result.entries, f"file holds {result.entries} entries, its header promises {stop - first}")
        )
    return result
