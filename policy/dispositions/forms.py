"""What goes into the disposition workflow and what comes out of it: forms and views."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from core.config import CAMERA_ID
from core.errors import BadRequest
from policy.dispositions.tokens import DispositionClaims

TEXT_LIMITS = {"party_name": 200, "party_organisation": 200, "purpose": 2000, "letter_number": 100}
NOTE_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class RequestForm:
    """What an operator fills in to ask for a replay for an outside party."""

    party_name: str
    party_organisation: str
    purpose: str
    letter_number: str
    letter_date: date
    cameras: tuple[str, ...]
    start: datetime
    end: datetime
    max_views: int | None = None
    valid_days: int | None = None
    copies: int = 0  # copies (export downloads) asked for besides the replay; 0 = replay only


@dataclass(frozen=True, slots=True)
class ApprovalInfo:
    approver: str
    verdict: str
    note: str
    at: datetime
    copies_approved: bool = False


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """A playback request as the API shows it."""

    id: str
    status: str
    requester: str
    party_name: str
    party_organisation: str
    purpose: str
    letter_number: str
    letter_date: date
    letter_sha256: str
    letter_content_type: str
    letter_size: int
    cameras: tuple[str, ...]
    start: datetime
    end: datetime
    max_views: int
    valid_days: int
    created_at: datetime
    updated_at: datetime
    approvals_required: int
    approvals: tuple[ApprovalInfo, ...] = ()
    token_id: str | None = None
    copies: int = 0


@dataclass(frozen=True, slots=True)
class DispositionInfo:
    """An issued token's claims and server state; `token` only for those who may hand it out."""

    claims: DispositionClaims
    key_id: str
    views_used: int
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str
    last_view_at: datetime | None
    token: str | None = None
    copies_used: int = 0
    views_per: str = "camera"  # how max_views counts: per camera, or in total
    camera_views: Mapping[str, int] = field(default_factory=dict)  # views used of each camera


def check_form(form: RequestForm, max_copies: int) -> None:
    """Refuse a form whose fields are missing, too long or out of range (400 naming the field)."""
    for name, limit in TEXT_LIMITS.items():
        value = getattr(form, name)
        if not value.strip():
            raise BadRequest(f"{name} is required")
        if len(value) > limit:
            raise BadRequest(f"{name} is longer than {limit} characters")
    if not form.cameras:
        raise BadRequest("name at least one camera")
    if len(set(form.cameras)) != len(form.cameras) or len(form.cameras) > 64:
        raise BadRequest("cameras must be distinct, at most 64")
    for camera in form.cameras:
        if not CAMERA_ID.fullmatch(camera):
            raise BadRequest(f"bad camera id {camera[:64]!r}")
    if form.start.tzinfo is None or form.end.tzinfo is None:
        raise BadRequest("start and end need a zone")
    if not 0 <= form.copies <= max_copies:
        raise BadRequest(f"copies must be 0-{max_copies}" if max_copies else "copies must be 0: copies are disabled")
