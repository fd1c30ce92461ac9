"""What the recorder reports, and the narrow interface it reports through.

The recorder must not import policy; the gateway adapts this Protocol to the access log.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

log = logging.getLogger(__name__)


class RecordingEventKind(enum.StrEnum):
    SEGMENT_SEALED = "segment_sealed"
    SEGMENT_RECOVERED = "segment_recovered"
    SEGMENT_QUARANTINED = "segment_quarantined"
    SEGMENT_DELETED = "segment_deleted"
    GAP_STARTED = "gap_started"
    GAP_ENDED = "gap_ended"
    HOLD_PLACED = "hold_placed"
    HOLD_RELEASED = "hold_released"
    STORAGE_FULL = "storage_full"
    STORAGE_RESUMED = "storage_resumed"


@dataclass(frozen=True, slots=True)
class RecordingEvent:
    """One fact about recordings, for the access log."""

    kind: RecordingEventKind
    camera: str | None
    start: datetime | None = None
    end: datetime | None = None
    sha256: str | None = None
    reason: str = ""
    actor: str = "system"
    details: Mapping[str, str | int | float | bool | None] = field(default_factory=dict)


class RecordingEventSink(Protocol):
    """Where the recorder's events go (the gateway's access-log adapter)."""

    async def record(self, event: RecordingEvent) -> None: ...


class LogOnlySink:
    """Writes events to the Python log only (tests, tools)."""

    def __init__(self) -> None:
        self.events: list[RecordingEvent] = []

    async def record(self, event: RecordingEvent) -> None:
        self.events.append(event)
        log.info("recording event %s camera=%s %s", event.kind, event.camera, event.reason)


async def emit(sink: RecordingEventSink, event: RecordingEvent) -> None:
    """Report without letting a failing sink stop recording."""
    try:
        await sink.record(event)
    except Exception:
        log.exception("recording event %s for camera %s could not be reported", event.kind, event.camera)
