"""Adapts the recorder's events to access-log entries (the recorder may not import policy)."""

from __future__ import annotations

from policy.audit.entries import AccessAction, AccessEvent, AccessRecorder
from recorder.reports import RecordingEvent, RecordingEventKind

ACTIONS = {
    RecordingEventKind.SEGMENT_SEALED: AccessAction.SEGMENT_SEALED,
    RecordingEventKind.SEGMENT_RECOVERED: AccessAction.SEGMENT_SEALED,
    RecordingEventKind.SEGMENT_QUARANTINED: AccessAction.SEGMENT_QUARANTINED,
    RecordingEventKind.SEGMENT_DELETED: AccessAction.SEGMENT_DELETED,
    RecordingEventKind.GAP_STARTED: AccessAction.RECORDING_GAP,
    RecordingEventKind.GAP_ENDED: AccessAction.RECORDING_GAP,
    RecordingEventKind.HOLD_PLACED: AccessAction.HOLD_PLACED,
    RecordingEventKind.HOLD_RELEASED: AccessAction.HOLD_RELEASED,
    RecordingEventKind.STORAGE_FULL: AccessAction.STORAGE_ALARM,
    RecordingEventKind.STORAGE_RESUMED: AccessAction.STORAGE_ALARM,
}
assert set(ACTIONS) == set(RecordingEventKind), "every recorder event needs an access-log action"


class RecordingLog:
    """A recorder.reports.RecordingEventSink that writes to the access log."""

    def __init__(self, access_log: AccessRecorder) -> None:
        self._log = access_log

    async def record(self, event: RecordingEvent) -> None:
        details = dict(event.details)
        details["event"] = event.kind.value
        if event.sha256 is not None:
            details["sha256"] = event.sha256
        await self._log.record(
            AccessEvent(
                ACTIONS[event.kind],
                actor=event.actor,
                camera=event.camera,
                start=event.start,
                end=event.end,
                outcome="error" if event.kind in (RecordingEventKind.SEGMENT_QUARANTINED,
                                                  RecordingEventKind.STORAGE_FULL) else "ok",
                reason=event.reason,
                details=details,
            )
        )
