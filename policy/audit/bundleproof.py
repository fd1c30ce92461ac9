"""Evidence bundles, the access-log half: the export's log entry, its RFC 6962 inclusion proof
against a signed checkpoint and the log's public key, and the offline check of all three.

The entry names the manifest by its SHA-256, so a recipient holding only the bundle and the
published key can show that this exact manifest (and through it every segment hash) was
logged, and that the log entry is in the tree the gateway signed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from policy.audit.accesslog import AccessLog, AccessLogError
from policy.audit.entries import AccessAction, AccessEvent
from policy.audit.encoding import LogEntry, StoredCheckpoint, entry_hash, leaf_of
from policy.audit.reader import iter_entries, latest_checkpoint
from policy.audit.merkle import verify_inclusion
from policy.audit.signednote import Checkpoint, NoteError, NoteVerifier, open_checkpoint

ENTRY = "log/entry.json"
PROOF = "log/inclusion-proof.json"
CHECKPOINT = "log/checkpoint.txt"
PUBLIC_KEY = "log/public-key.txt"
MANIFEST_DIGEST = "manifest_sha256"


@dataclass(frozen=True, slots=True)
class ExportProof:
    """The export's log entry, the checkpoint covering it, the inclusion proof and the public key text."""

    entry: LogEntry
    checkpoint: StoredCheckpoint
    proof: tuple[bytes, ...]
    public_key: str  # vkey line, then PEM (what `pantau log-key` prints)

    def files(self) -> dict[str, bytes]:
        """Bundle member name -> bytes."""
        proof = {"leaf_index": self.entry.seq, "tree_size": self.checkpoint.size,
                 "hashes": [h.hex() for h in self.proof]}
        return {
            ENTRY: (json.dumps(self.entry.to_json(), indent=2, sort_keys=True) + "\n").encode(),
            PROOF: (json.dumps(proof, indent=2) + "\n").encode(),
            CHECKPOINT: self.checkpoint.note.encode(),
            PUBLIC_KEY: self.public_key.encode(),
        }

    @classmethod
    def from_files(cls, read: Callable[[str], bytes]) -> ExportProof:
        """Parse the members back (KeyError: one is missing; ValueError: one is malformed)."""
        entry = LogEntry.from_json(json.loads(read(ENTRY)))
        proof = json.loads(read(PROOF))
        note = read(CHECKPOINT).decode()
        if int(proof["leaf_index"]) != entry.seq:
            raise ValueError(f"the inclusion proof is for entry {proof['leaf_index']}, not {entry.seq}")
        hashes = tuple(bytes.fromhex(h) for h in proof["hashes"])
        checkpoint = StoredCheckpoint(int(proof["tree_size"]), "", note, "")
        return cls(entry, checkpoint, hashes, read(PUBLIC_KEY).decode())


async def log_export(access_log: AccessLog, engine: AsyncEngine, event: AccessEvent, public_key: str) -> ExportProof:
    """Append the export's entry, have a checkpoint signed over it, and prove its inclusion."""
    seq = await access_log.append(event)
    # Sign now rather than wait for a running gateway's checkpointer: this may be the only
    # process writing the log. When another process is the signer, wait for its checkpoint.
    await access_log.checkpoint_covering(seq)
    async with engine.connect() as conn:
        checkpoint = await latest_checkpoint(conn)
        entries = [e async for e in iter_entries(conn, seq, seq + 1)]
    if checkpoint is None or checkpoint.size <= seq or not entries:
        raise AccessLogError(f"no signed checkpoint covers the export's log entry {seq}")
    _, proof = await access_log.proofs.inclusion(seq, checkpoint.size)
    return ExportProof(entries[0], checkpoint, tuple(proof), public_key)


def bundled_verifier(public_key: str) -> NoteVerifier:
    """The verifier of the key shipped in a bundle (its first line is the signed-note vkey)."""
    return NoteVerifier.from_vkey(public_key.split("\n", 1)[0])


def check_proof(
    proof: ExportProof, manifest_sha256: str, trusted: NoteVerifier | None = None
) -> tuple[list[str], Checkpoint | None]:
    """Problems with the log half of a bundle (empty: it verifies), and the checkpoint if it verified."""
    entry = proof.entry
    problems: list[str] = []
    if entry_hash(entry.prev_hash, entry.payload) != entry.entry_hash:
        problems.append(f"log entry {entry.seq}: its entry_hash does not match its content")
    problems += _check_payload(entry, manifest_sha256)
    try:
        verifier = bundled_verifier(proof.public_key)
    except NoteError as exc:
        if trusted is None:
            return [*problems, f"{PUBLIC_KEY}: {exc.detail}"], None
        verifier = trusted
    if trusted is not None and (trusted.name, trusted.key_hash) != (verifier.name, verifier.key_hash):
        problems.append(f"the bundled public key ({verifier.vkey()}) is not the trusted key ({trusted.vkey()})")
        verifier = trusted
    try:
        checkpoint = open_checkpoint(proof.checkpoint.note, verifier)
    except NoteError as exc:
        which = "trusted" if trusted is not None else "bundled"
        return [*problems, f"the checkpoint does not verify with the {which} key {verifier.vkey()}: {exc.detail}"], None
    if checkpoint.size != proof.checkpoint.size:
        problems.append(f"the inclusion proof is for a tree of {proof.checkpoint.size} entries, the checkpoint "
                        f"covers {checkpoint.size}")
    elif not verify_inclusion(leaf_of(entry.payload), entry.seq, checkpoint.size, proof.proof, checkpoint.root_hash):
        problems.append(f"the inclusion proof of log entry {entry.seq} does not lead to the root of the signed "
                        f"checkpoint (size {checkpoint.size})")
    return problems, checkpoint


def _check_payload(entry: LogEntry, manifest_sha256: str) -> list[str]:
    try:
        payload: Any = json.loads(entry.payload)
    except ValueError:
        return [f"log entry {entry.seq}: payload is not JSON"]
    if not isinstance(payload, dict) or payload.get("seq") != entry.seq:
        return [f"log entry {entry.seq}: payload belongs to another entry"]
    if payload.get("action") != str(AccessAction.EXPORT) or payload.get("outcome") != "ok":
        return [f"log entry {entry.seq} is not a successful export ({payload.get('action')}, "
                f"{payload.get('outcome')})"]
    logged = (payload.get("details") or {}).get(MANIFEST_DIGEST)
    if logged != manifest_sha256:
        return [f"the manifest's sha256 {manifest_sha256} is not the one log entry {entry.seq} records ({logged}): "
                "the manifest was changed, or the entry belongs to another export"]
    return []
