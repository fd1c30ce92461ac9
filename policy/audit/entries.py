"""What goes into the access log: one event type for every kind of access or change."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

Scalar = str | int | float | bool | None


class AccessAction(enum.StrEnum):
    """Every kind of entry the access log holds."""

    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_OUT = "sign_out"
    LIVE_START = "live_start"
    LIVE_STOP = "live_stop"
    PLAYBACK_START = "playback_start"
    PLAYBACK_STOP = "playback_stop"
    THUMBNAILS = "thumbnails"  # keyframe pictures of a recorded window (the recordings page's strip)
    EXPORT = "export"
    PTZ = "ptz"
    REQUEST_FILED = "request_filed"
    REQUEST_APPROVED = "request_approved"
    REQUEST_REFUSED = "request_refused"
    TOKEN_ISSUED = "token_issued"
    TOKEN_REDEEMED = "token_redeemed"
    TOKEN_REVOKED = "token_revoked"
    TOKEN_REVEALED = "token_revealed"  # an issued token shown again to its requester or an approver
    LETTER_READ = "letter_read"  # a playback request's scanned letter was downloaded
    REQUESTS_LISTED = "requests_listed"  # the playback requests (or issued dispositions) were listed
    HOLD_PLACED = "hold_placed"
    HOLD_RELEASED = "hold_released"
    USER_CREATED = "user_created"
    USER_CHANGED = "user_changed"
    DISPLAY_ENROLLED = "display_enrolled"
    DISPLAY_REVOKED = "display_revoked"
    DISPLAY_USED = "display_used"  # first use of a display's token since start or after a minute idle
    CONFIG_CHANGED = "config_changed"
    RETENTION_CHANGE_REQUESTED = "retention_change_requested"  # a shortening, waiting for a second person
    RETENTION_CHANGE_APPROVED = "retention_change_approved"  # applied (with a config_changed entry)
    RETENTION_CHANGE_REJECTED = "retention_change_rejected"
    RETENTION_CHANGE_WITHDRAWN = "retention_change_withdrawn"  # taken back by who asked, before a verdict
    SEGMENT_SEALED = "segment_sealed"
    SEGMENT_DELETED = "segment_deleted"
    SEGMENT_QUARANTINED = "segment_quarantined"
    RECORDING_GAP = "recording_gap"
    STORAGE_ALARM = "storage_alarm"
    DECISION = "decision"
    SHIFT_OPENED = "shift_opened"
    CHECK_SAVED = "check_saved"
    PATROL_RECORDED = "patrol_recorded"
    HANDOVER_FILED = "handover_filed"
    HANDOVER_ACCEPTED = "handover_accepted"
    HANDOVER_AMENDED = "handover_amended"
    CASE_OPENED = "case_opened"
    CASE_ACKNOWLEDGED = "case_acknowledged"
    CASE_ESCALATED = "case_escalated"
    CASE_FORWARDED = "case_forwarded"
    CASE_FOLLOWED_UP = "case_followed_up"
    CASE_STEP_DONE = "case_step_done"
    CASE_RESOLVED = "case_resolved"
    CASE_CLOSED = "case_closed"
    CASE_AMENDED = "case_amended"
    CASE_HOLD_PLACED = "case_hold_placed"
    CASE_TRIGGERED = "case_triggered"
    CASE_SNAPSHOT = "case_snapshot"
    TRIGGER_RECEIVED = "trigger_received"
    TRIGGER_REFUSED = "trigger_refused"
    EXPORT_JOB_CREATED = "export_job_created"  # queued; the copy itself is an `export` entry when done
    EXPORT_JOB_CANCELLED = "export_job_cancelled"
    EXPORT_JOB_FAILED = "export_job_failed"
    EXPORT_JOB_EXPIRED = "export_job_expired"  # its file deleted after recording.export_keep_h
    EXPORT_DOWNLOADED = "export_downloaded"  # one download request of a job's zip (with its byte range)
    EXPORT_FILE_REMOVED = "export_file_removed"  # a partial or orphan file in data_dir/exports, at start
    LINK_ISSUED = "link_issued"  # a signed link (URL without a header) was made
    LINK_USED = "link_used"  # a signed link was presented: used, or refused with the reason
    BOOKMARK_PLACED = "bookmark_placed"  # a moment or range of a camera's recordings, with a note (hashed)
    SNAPSHOT_TAKEN = "snapshot_taken"  # a JPEG the server took (live or recorded), with its SHA-256
    SNAPSHOT_VIEWED = "snapshot_viewed"  # a stored snapshot was downloaded
    SNAPSHOT_ATTACHED = "snapshot_attached"  # a stored snapshot was attached to a case


Outcome = Literal["ok", "allow", "deny", "error"]


@dataclass(frozen=True, slots=True)
class AccessEvent:
    """One fact for the log. Never carries a secret: tokens are named by their id."""

    action: AccessAction
    actor: str | None = None  # username, or "system" for the gateway itself
    role: str | None = None
    client: str | None = None  # peer address
    camera: str | None = None
    start: datetime | None = None  # time range concerned (UTC), e.g. the range actually sent
    end: datetime | None = None
    outcome: Outcome = "ok"
    reason: str = ""
    token_id: str | None = None
    request_id: str | None = None
    details: Mapping[str, Scalar] = field(default_factory=dict)


class AccessRecorder(Protocol):
    """Where events go; the access log implements it, tests may collect into a list."""

    async def record(self, event: AccessEvent) -> None: ...
