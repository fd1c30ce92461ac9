"""An alert as it is stored and sent: id, order, kind, time, camera, severity, both summaries, details."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from core.alerting import AlertKind, Scalar, Severity
from core.utctime import format_utc


def uuid7(at: datetime) -> str:
    """An RFC 9562 UUIDv7: 48 bits of Unix milliseconds, then random; sorts by time as text."""
    ms = int(at.timestamp() * 1000) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64 | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(UUID(int=value))


@dataclass(frozen=True, slots=True)
class Alert:
    """One published alert. `seq` orders the outbox (and is the SSE event id); `id` is for dedup."""

    seq: int
    id: str
    kind: AlertKind
    at: datetime
    severity: Severity
    summary: Mapping[str, str]
    camera: str | None = None
    details: Mapping[str, Scalar] | None = None

    def as_json(self) -> dict[str, Any]:
        """The payload every sink sends (webhook body, MQTT message, SSE data)."""
        return {
            "id": self.id,
            "seq": self.seq,
            "kind": self.kind.value,
            "at": format_utc(self.at),
            "camera": self.camera,
            "severity": self.severity.value,
            "summary": dict(self.summary),
            "details": dict(self.details or {}),
        }
