"""What any part of Pantau tells the room: alert kinds and the narrow interface they are published
through. The vocabulary lives here, at the bottom, so the recorder, the access log, the cameras and
later capabilities can publish without knowing who delivers (alerts/ does: outbox, SSE, webhooks,
MQTT)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

Scalar = str | int | float | bool | None


class AlertKind(enum.StrEnum):
    """Stable names: receivers filter and route on them; never rename one."""

    CAMERA_ONLINE = "camera.online"
    CAMERA_OFFLINE = "camera.offline"
    CAMERA_DEGRADED = "camera.degraded"
    CAMERA_RECOVERED = "camera.recovered"
    CAMERA_FLAPPING = "camera.flapping"
    CAMERA_ALARM = "camera.alarm"
    RECORDING_STALLED = "recording.stalled"
    RECORDING_RESUMED = "recording.resumed"
    STORAGE_FULL = "storage.full"
    STORAGE_OK = "storage.ok"
    STORAGE_LOW = "storage.low"
    ACCESSLOG_TAMPERED = "accesslog.tampered"
    SIGNIN_BURST = "security.signin_burst"
    PATROL_MISSED = "patrol.missed"
    HANDOVER_FILED = "handover.filed"
    HANDOVER_ACCEPTED = "handover.accepted"
    CASE_OPENED = "case.opened"
    CASE_ESCALATED = "case.escalated"
    CASE_ACKNOWLEDGED = "case.acknowledged"
    CASE_CLOSED = "case.closed"


class Severity(enum.StrEnum):
    """How urgent: `critical` wakes someone, `warning` needs a look this shift, `info` is a record."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Notice:
    """One thing that happened, as its publisher knows it. The bus gives it an id, a time, a
    severity and the bilingual summary (alerts/catalogue.py). `details` are plain values; URLs in
    them lose their credentials before anything is stored or sent."""

    kind: AlertKind
    camera: str | None = None
    details: Mapping[str, Scalar] = field(default_factory=dict)


class Publisher(Protocol):
    """Where notices go. Never blocks and never raises: a dead receiver must not slow a camera."""

    def publish(self, notice: Notice) -> None: ...


class Discard:
    """A publisher that drops everything: for tools and tests that run a part without the bus."""

    def publish(self, notice: Notice) -> None:
        return None
