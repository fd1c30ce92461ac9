"""How an access-log entry is serialized and hashed; shared by the writer, verifier and export.

An entry's payload is canonical JSON (sorted keys, no spaces, UTF-8, RFC 3339 UTC times)
holding its own `seq` and time `at` plus the event. The payload bytes are the Merkle
leaf (leaf index = seq, from 0); the chain hash is SHA-256(prev_hash || payload), with
32 zero bytes before the first entry.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from policy.audit.entries import AccessEvent

FORMAT_VERSION = 1
GENESIS_PREV = "00" * 32


def entry_time(value: datetime) -> str:
    """UTC, microseconds, 'Z' suffix: one spelling per instant, so hashes are reproducible."""
    if value.tzinfo is None:
        raise ValueError("naive datetime in the access log")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def event_fields(event: AccessEvent) -> dict[str, Any]:
    """The event as JSON fields; empty ones are left out."""
    fields: dict[str, Any] = {"action": str(event.action), "outcome": event.outcome}
    for name in ("actor", "role", "client", "camera", "token_id", "request_id"):
        value = getattr(event, name)
        if value is not None:
            fields[name] = value
    if event.start is not None:
        fields["start"] = entry_time(event.start)
    if event.end is not None:
        fields["end"] = entry_time(event.end)
    if event.reason:
        fields["reason"] = event.reason
    if event.details:
        fields["details"] = dict(event.details)
    return fields


def payload_for(seq: int, at: datetime, event: AccessEvent) -> str:
    """The canonical payload of entry `seq` written at `at`."""
    return canonical_json({"v": FORMAT_VERSION, "seq": seq, "at": entry_time(at), **event_fields(event)})


def entry_hash(prev_hash: str, payload: str) -> str:
    """Chain hash of an entry, hex."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + payload.encode()).hexdigest()


def leaf_of(payload: str) -> bytes:
    """The Merkle leaf hash of an entry."""
    return hashlib.sha256(b"\x00" + payload.encode()).digest()


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One stored entry, as read from the database or an export file."""

    seq: int
    prev_hash: str
    entry_hash: str
    payload: str
    created_at: str  # RFC 3339, as entry_time() spells it

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "prev_hash": self.prev_hash,
            "entry_hash": self.entry_hash,
            "payload": self.payload,
            "created_at": self.created_at,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> LogEntry:
        return cls(
            int(obj["seq"]), str(obj["prev_hash"]), str(obj["entry_hash"]), str(obj["payload"]),
            str(obj["created_at"]),
        )


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """A signed checkpoint note with the size and root it claims (checked by the verifier)."""

    size: int
    root_hash: str
    note: str
    created_at: str

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "root_hash": self.root_hash, "note": self.note, "created_at": self.created_at}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> StoredCheckpoint:
        return cls(int(obj["size"]), str(obj["root_hash"]), str(obj["note"]), str(obj.get("created_at", "")))
