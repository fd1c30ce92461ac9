"""The decision vocabulary: what is asked (Action), by whom (Subject), of what (Resource), when and
with which token (Context), and what comes back (Decision, its Reason and Obligations); with the
small helpers every rule uses. `policy/decision.py` decides; this module only names things."""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from core.config import AccessConfig

class Action(enum.StrEnum):
    """What a subject asks to do."""

    VIEW_CAMERA = "view_camera"  # camera metadata, state, snapshot
    LIVE = "live"
    PLAYBACK = "playback"
    LIST_RECORDINGS = "list_recordings"
    EXPORT = "export"
    PTZ = "ptz"
    FILE_REQUEST = "file_request"
    READ_REQUESTS = "read_requests"  # requests, letters, dispositions
    READ_TOKEN = "read_token"  # the disposition token itself (to hand to the grantee)
    APPROVE = "approve"
    REFUSE = "refuse"
    REVOKE = "revoke"
    READ_ACCESS_LOG = "read_access_log"
    ADMINISTER = "administer"  # users, health, config
    GATEWAY_ALERTS = "gateway_alerts"  # alerts about no camera: storage, access log, sign-ins
    READ_HOLDS = "read_holds"  # evidence holds
    PLACE_HOLD = "place_hold"
    RELEASE_HOLD = "release_hold"
    PLACE_BOOKMARK = "place_bookmark"  # a moment or a range of a camera's recordings, with a note
    READ_BOOKMARKS = "read_bookmarks"
    END_SESSION = "end_session"  # a WHEP session (live or playback), someone else's included
    FILE_SHIFT_RECORD = "file_shift_record"  # open a shift, save a check or patrol, file a handover
    READ_SHIFT_RECORDS = "read_shift_records"  # shifts, checks, patrols (owner: whose record)
    READ_HANDOVERS = "read_handovers"
    ACCEPT_HANDOVER = "accept_handover"  # countersign (owner: who filed it)
    READ_DUTY = "read_duty"  # who is on duty now
    CLOSE_SHIFT = "close_shift"  # close another operator's abandoned shift
    OPEN_CASE = "open_case"  # raise an incident, file a complaint, open an emergency
    HANDLE_CASE = "handle_case"  # acknowledge, forward, follow up, check off steps, resolve, amend
    CLOSE_CASE = "close_case"  # close with the berita acara (leadership)
    READ_CASES = "read_cases"
    READ_REPORTER = "read_reporter"  # a complainant's name and contact (personal data)
    READ_EXPORTS = "read_exports"  # export jobs and their results (owner: who asked)
    CANCEL_EXPORT = "cancel_export"  # stop an export job (owner: who asked)
    READ_RETENTION_CHANGES = "read_retention_changes"  # shortenings of retention waiting for (or given) a verdict
    DECIDE_RETENTION = "decide_retention"  # approve or reject a shortening of retention (owner: who asked)
    WITHDRAW_RETENTION = "withdraw_retention"  # take back one's own pending shortening (owner: who asked)


class Reason(enum.StrEnum):
    """Why a decision came out as it did; stable codes for the log and for clients."""

    ALLOWED = "allowed"
    NO_ROLE = "no_role"
    NOT_PERMITTED = "not_permitted"
    NO_CAMERA = "no_camera"
    NOT_VISIBLE = "camera_not_visible"
    NO_WINDOW = "no_time_range"
    BAD_WINDOW = "empty_time_range"
    FUTURE_WINDOW = "time_range_in_future"
    WINDOW_TOO_LONG = "time_range_too_long"
    DISPOSITION_REQUIRED = "disposition_required"
    OWN_REQUEST = "own_request"
    OWN_HANDOVER = "own_handover"
    NOT_OWNER = "not_owner"
    TOKEN_ACTION = "token_action_not_allowed"
    TOKEN_REVOKED = "token_revoked"
    TOKEN_NOT_YET_VALID = "token_not_yet_valid"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_WRONG_CAMERA = "token_wrong_camera"
    TOKEN_WRONG_WINDOW = "token_wrong_time_range"
    TOKEN_VIEWS_EXHAUSTED = "token_views_exhausted"
    TOKEN_NO_COPIES = "token_no_copies"
    TOKEN_COPIES_EXHAUSTED = "token_copies_exhausted"
    # The decision allowed with no_audio, but the copy asked for cannot leave the sound out (a
    # bundle of sealed segments that hold sound): refused by the one who would make the copy.
    AUDIO_WITHHELD = "audio_withheld"
    # Raised before a decision can be made (tokens.py / dispositions.py), listed here so every
    # refusal reason lives in one vocabulary.
    TOKEN_MALFORMED = "token_malformed"
    TOKEN_BAD_SIGNATURE = "token_bad_signature"
    TOKEN_UNKNOWN = "token_unknown"


class ObligationKind(enum.StrEnum):
    """What the caller must do when it acts on an allow."""

    LOG = "log"  # write an access-log entry
    WATERMARK = "watermark"  # burn `value` (text) into the picture
    MAX_RATE = "max_rate"  # play at most `value` times real time
    NO_AUDIO = "no_audio"  # serve video only: leave the camera's sound out


@dataclass(frozen=True, slots=True)
class Obligation:
    kind: ObligationKind
    value: str | float | None = None


@dataclass(frozen=True, slots=True)
class Subject:
    """Who asks: a signed-in user (role set) or a token holder (role None)."""

    user: str
    role: str | None


@dataclass(frozen=True, slots=True)
class Resource:
    """What is asked for. `owner` is the requester of a playback request (approve/refuse,
    read_token) or the viewer of a WHEP session (end_session); `approvers` are the users whose
    approvals issued a disposition (read_token)."""

    camera: str | None = None
    camera_groups: frozenset[str] = frozenset()
    start: datetime | None = None
    end: datetime | None = None
    owner: str | None = None
    approvers: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """A disposition token whose signature has been checked, plus the server's state for it."""

    token_id: str
    request_id: str
    grantee: str
    cameras: frozenset[str]
    start: datetime
    end: datetime
    not_before: datetime
    expires: datetime
    max_views: int
    views_used: int = 0
    revoked: bool = False
    copies: int = 0
    copies_used: int = 0


@dataclass(frozen=True, slots=True)
class Context:
    """When, from where, and with which token (if any)."""

    now: datetime
    client: str = ""
    token: TokenGrant | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: Reason
    detail: str = ""
    obligations: tuple[Obligation, ...] = field(default=())

    def obligation(self, kind: ObligationKind) -> Obligation | None:
        """The obligation of this kind, if any."""
        return next((o for o in self.obligations if o.kind is kind), None)

    @property
    def max_rate(self) -> float | None:
        """The fastest playback speed this allow permits, if it caps one."""
        rate = self.obligation(ObligationKind.MAX_RATE)
        return float(rate.value) if rate is not None and rate.value is not None else None

    @property
    def watermark(self) -> str | None:
        """The text to mark the picture with, if this allow asks for one."""
        mark = self.obligation(ObligationKind.WATERMARK)
        return str(mark.value) if mark is not None and mark.value is not None else None

    @property
    def audio(self) -> bool:
        """Whether this allow lets the camera's sound be served with the picture."""
        return self.obligation(ObligationKind.NO_AUDIO) is None

    @property
    def text(self) -> str:
        """Reason code and detail, as logged."""
        return f"{self.reason.value}: {self.detail}" if self.detail else self.reason.value


LOG = Obligation(ObligationKind.LOG)


def matches(granted: Collection[str], camera_groups: Iterable[str]) -> bool:
    """True when `granted` holds "*" or one of the camera's groups."""
    return "*" in granted or any(g in granted for g in camera_groups)


def deny(reason: Reason, detail: str = "") -> Decision:
    return Decision(False, reason, detail)


def allow(*obligations: Obligation) -> Decision:
    return Decision(True, Reason.ALLOWED, "", (LOG, *obligations))


def sees(rules: AccessConfig, role: str, resource: Resource) -> bool:
    """True when the role's `visibility` groups match the camera."""
    return matches(rules.visibility.get(role, ()), resource.camera_groups)  # type: ignore[call-overload]
