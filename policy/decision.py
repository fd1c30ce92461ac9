"""The decision function: who may do what to which camera and time range. Pure: no I/O, no clock.

The rules, in the order they are applied (the first that fails decides; deny by default):

With a disposition token in the context (the holder is whoever presents it; the role plays no part):
  T1. only `playback` and `list_recordings` can be done with a token;
  T2. a revoked token is refused; T3. before not-before and T4. at or after expiry it is refused;
  T5. the camera must be one of the token's cameras;
  T6. the time range must be given, non-empty, and lie inside the token's window;
  T7. `playback` needs a view left (views used < maximum views).
  Allowed: log; playback also gets the disposition's maximum rate and, if configured, a watermark
  naming the grantee and the token.

Without a token, by the subject's role (no role: denied):
  R1. `view_camera`, `live`: the role's `visibility` groups match the camera (log).
  R2. `ptz`: the role's `ptz` groups match the camera (log).
  R3. `list_recordings`: the role has a `playback` rule whose groups match the camera (log).
  R4. `playback`, `export`: the role has a rule (`playback` / `export`) whose groups match the
      camera; the camera is in no `disposition.required_groups` group; the time range is given and
      non-empty; its start is no older than the rule's `max_age_h`. Otherwise a disposition is
      needed. Allowed: log, the rule's maximum rate (playback), a watermark with the user's name
      if the rule asks for one.
  R5. `file_request`: role in `requester_roles`; the role sees the camera (`visibility`); the time
      range is given, non-empty, ends no later than now and spans at most `max_window_h` (log).
  R6. `read_requests`: role in `reader_roles` (log). `read_token`: role in `approver_roles`, or
      role in `requester_roles` and the subject is the request's owner (log).
  R7. `approve`, `refuse`: role in `approver_roles`; the request's owner is known and is not the
      subject (nobody decides their own request) (log).
  R8. `revoke`: role in `revoker_roles` (log).
  R9. `read_access_log`: role in `audit_roles`; `administer`: role in `admin_roles` (log).
  R10. `read_holds`, `place_hold`, `release_hold`: role in `holds.read_roles` / `holds.place_roles`
      / `holds.release_roles`; a camera is named (only a listing of holds may name none, and then
      each hold is decided with its camera) and the role sees it (`visibility`) (log).
  R11. `end_session`: the subject is the session's viewer (`owner`; a token holder's session has
      none), or role in `end_session_roles` (log).
  R12. `gateway_alerts`: role in `gateway_alert_roles` (alerts about no camera; camera alerts follow R1).
  R13. `file_shift_record` (open a shift, save a check or a patrol, file or amend a handover): role in
      `desk.file_roles` (log).
  R14. `read_shift_records`: role in `desk.reader_roles`; or role in `desk.file_roles` and the subject is
      the record's `owner` (a listing names no owner: it is narrowed to the subject's own) (log).
  R15. `read_handovers`: role in `desk.reader_roles` or `desk.file_roles` (the next shift reads them) (log).
  R16. `accept_handover`: role in `desk.file_roles`; the handover's owner is known and is not the subject
      (nobody countersigns their own handover) (log). `read_duty` (who is on duty): role in
      `desk.duty_roles`. `close_shift` (another's abandoned shift): role in `desk.close_roles` (log).
  R17. `open_case`, `handle_case`, `close_case`, `read_cases`, `read_reporter`: role in `cases.open_roles`,
      `handle_roles`, `close_roles`, `read_roles`, `reporter_roles`; a case naming a camera also needs the
      role to see it (`visibility`) (log).

A camera matches a list of groups when the list holds "*" or one of the camera's groups.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.config import AccessConfig, ReplayRule


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
    """What is asked for. `owner` is the requester of a playback request (approve/refuse) or the
    viewer of a WHEP session (end_session)."""

    camera: str | None = None
    camera_groups: frozenset[str] = frozenset()
    start: datetime | None = None
    end: datetime | None = None
    owner: str | None = None


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
    def text(self) -> str:
        """Reason code and detail, as logged."""
        return f"{self.reason.value}: {self.detail}" if self.detail else self.reason.value


TOKEN_ACTIONS = frozenset({Action.PLAYBACK, Action.LIST_RECORDINGS})
CASE_ACTIONS = frozenset(
    {Action.OPEN_CASE, Action.HANDLE_CASE, Action.CLOSE_CASE, Action.READ_CASES, Action.READ_REPORTER}
)
DESK_ACTIONS = frozenset(
    {Action.FILE_SHIFT_RECORD, Action.READ_SHIFT_RECORDS, Action.READ_HANDOVERS, Action.ACCEPT_HANDOVER,
     Action.READ_DUTY, Action.CLOSE_SHIFT}
)
LOG = Obligation(ObligationKind.LOG)


def matches(granted: Collection[str], camera_groups: Iterable[str]) -> bool:
    """True when `granted` holds "*" or one of the camera's groups."""
    return "*" in granted or any(g in granted for g in camera_groups)


def _deny(reason: Reason, detail: str = "") -> Decision:
    return Decision(False, reason, detail)


def _allow(*obligations: Obligation) -> Decision:
    return Decision(True, Reason.ALLOWED, "", (LOG, *obligations))


def _sees(rules: AccessConfig, role: str, resource: Resource) -> bool:
    """True when the role's `visibility` groups match the camera."""
    return matches(rules.visibility.get(role, ()), resource.camera_groups)  # type: ignore[call-overload]


def _window(resource: Resource) -> Decision | None:
    if resource.start is None or resource.end is None:
        return _deny(Reason.NO_WINDOW, "a start and an end are needed")
    if resource.start >= resource.end:
        return _deny(Reason.BAD_WINDOW, "start must be before end")
    return None


def decide(rules: AccessConfig, subject: Subject, action: Action, resource: Resource, context: Context) -> Decision:
    """Allow or deny `action` on `resource`, with the reason and the obligations of an allow."""
    if context.token is not None:
        return _by_token(rules, action, resource, context.token, context.now)
    role = subject.role
    if role is None:
        return _deny(Reason.NO_ROLE, "no role and no disposition token")
    if action in (Action.VIEW_CAMERA, Action.LIVE, Action.PTZ, Action.LIST_RECORDINGS):
        if resource.camera is None:
            return _deny(Reason.NO_CAMERA, "no camera named")
        if action is Action.PTZ:
            granted: Collection[str] = rules.ptz.get(role, ())  # type: ignore[call-overload]
        elif action is Action.LIST_RECORDINGS:
            rule = rules.playback.get(role)  # type: ignore[call-overload]
            granted = rule.groups if rule is not None else ()
        else:
            granted = rules.visibility.get(role, ())  # type: ignore[call-overload]
        if not matches(granted, resource.camera_groups):
            return _deny(Reason.NOT_VISIBLE, f"role {role!r} may not {action.value} this camera")
        return _allow()
    if action in (Action.PLAYBACK, Action.EXPORT):
        table = rules.playback if action is Action.PLAYBACK else rules.export
        return _replay(rules, subject, action, table.get(role), resource, context.now)  # type: ignore[call-overload]
    if action is Action.FILE_REQUEST:
        return _file_request(rules, role, resource, context.now)
    if action in (Action.READ_HOLDS, Action.PLACE_HOLD, Action.RELEASE_HOLD):
        return _hold(rules, role, action, resource)
    if action in DESK_ACTIONS:
        return _desk(rules, subject, action, resource)
    if action in CASE_ACTIONS:
        return _case(rules, role, action, resource)
    if action is Action.END_SESSION:
        if (resource.owner is not None and resource.owner == subject.user) or role in rules.end_session_roles:
            return _allow()
        return _deny(Reason.NOT_PERMITTED, f"role {role!r} may end its own sessions only")
    d = rules.disposition
    if action is Action.READ_TOKEN:
        if role in d.approver_roles or (role in d.requester_roles and subject.user == resource.owner):
            return _allow()
        return _deny(Reason.NOT_PERMITTED, "only approvers and the requester may read the token")
    allowed_roles: Collection[str] = {
        Action.READ_REQUESTS: d.reader_roles,
        Action.APPROVE: d.approver_roles,
        Action.REFUSE: d.approver_roles,
        Action.REVOKE: d.revoker_roles,
        Action.READ_ACCESS_LOG: rules.audit_roles,
        Action.ADMINISTER: rules.admin_roles,
        Action.GATEWAY_ALERTS: rules.gateway_alert_roles,
    }.get(action, ())
    if role not in allowed_roles:
        return _deny(Reason.NOT_PERMITTED, f"role {role!r} may not {action.value}")
    if action in (Action.APPROVE, Action.REFUSE):
        if resource.owner is None:
            return _deny(Reason.NOT_PERMITTED, "the request's owner is unknown")
        if resource.owner == subject.user:
            return _deny(Reason.OWN_REQUEST, "nobody decides their own request")
    return _allow()


def _replay(
    rules: AccessConfig, subject: Subject, action: Action, rule: ReplayRule | None, resource: Resource, now: datetime
) -> Decision:
    if resource.camera is None:
        return _deny(Reason.NO_CAMERA, "no camera named")
    if rule is None or not matches(rule.groups, resource.camera_groups):
        return _deny(Reason.DISPOSITION_REQUIRED, f"role {subject.role!r} needs a disposition to {action.value} this camera")
    if matches(rules.disposition.required_groups, resource.camera_groups):
        return _deny(Reason.DISPOSITION_REQUIRED, f"this camera's recordings need a disposition to {action.value}")
    bad = _window(resource)
    if bad is not None:
        return bad
    assert resource.start is not None
    if rule.max_age_h is not None and resource.start < now - timedelta(hours=rule.max_age_h):
        return _deny(
            Reason.DISPOSITION_REQUIRED,
            f"role {subject.role!r} may {action.value} the last {rule.max_age_h:g} h only; older needs a disposition",
        )
    extra: list[Obligation] = []
    if action is Action.PLAYBACK:
        extra.append(Obligation(ObligationKind.MAX_RATE, rule.max_rate))
    if rule.watermark:
        extra.append(Obligation(ObligationKind.WATERMARK, subject.user))
    return _allow(*extra)


def _file_request(rules: AccessConfig, role: str, resource: Resource, now: datetime) -> Decision:
    d = rules.disposition
    if role not in d.requester_roles:
        return _deny(Reason.NOT_PERMITTED, f"role {role!r} may not file playback requests")
    if resource.camera is None:
        return _deny(Reason.NO_CAMERA, "no camera named")
    if not _sees(rules, role, resource):
        return _deny(Reason.NOT_VISIBLE, f"role {role!r} does not see camera {resource.camera!r}")
    bad = _window(resource)
    if bad is not None:
        return bad
    assert resource.start is not None and resource.end is not None
    if resource.end > now:
        return _deny(Reason.FUTURE_WINDOW, "the time range must end in the past")
    if resource.end - resource.start > timedelta(hours=d.max_window_h):
        return _deny(Reason.WINDOW_TOO_LONG, f"one request covers at most {d.max_window_h:g} h")
    return _allow()


def _hold(rules: AccessConfig, role: str, action: Action, resource: Resource) -> Decision:
    h = rules.holds
    roles = {Action.READ_HOLDS: h.read_roles, Action.PLACE_HOLD: h.place_roles, Action.RELEASE_HOLD: h.release_roles}[action]
    if role not in roles:
        return _deny(Reason.NOT_PERMITTED, f"role {role!r} may not {action.value}")
    if resource.camera is None:
        # Listing holds names no camera; each hold listed is then decided with its own.
        return _allow() if action is Action.READ_HOLDS else _deny(Reason.NO_CAMERA, "no camera named")
    if not _sees(rules, role, resource):
        return _deny(Reason.NOT_VISIBLE, f"role {role!r} does not see camera {resource.camera!r}")
    return _allow()


def _desk(rules: AccessConfig, subject: Subject, action: Action, resource: Resource) -> Decision:
    d = rules.desk
    role = subject.role
    files, reads = role in d.file_roles, role in d.reader_roles
    if action in (Action.READ_DUTY, Action.CLOSE_SHIFT):
        roles = d.duty_roles if action is Action.READ_DUTY else d.close_roles
        return _allow() if role in roles else _deny(Reason.NOT_PERMITTED, f"role {role!r} may not {action.value}")
    if action is Action.READ_HANDOVERS:
        return _allow() if files or reads else _deny(Reason.NOT_PERMITTED, f"role {role!r} may not read handovers")
    if action is Action.READ_SHIFT_RECORDS:
        if reads:
            return _allow()
        if not files:
            return _deny(Reason.NOT_PERMITTED, f"role {role!r} may not read shift records")
        if resource.owner is not None and resource.owner != subject.user:
            return _deny(Reason.NOT_OWNER, f"role {role!r} reads its own shift records only")
        return _allow()
    if not files:
        return _deny(Reason.NOT_PERMITTED, f"role {role!r} may not {action.value}")
    if action is Action.ACCEPT_HANDOVER:
        if resource.owner is None:
            return _deny(Reason.NOT_PERMITTED, "the handover's author is unknown")
        if resource.owner == subject.user:
            return _deny(Reason.OWN_HANDOVER, "nobody countersigns their own handover")
    return _allow()


def _case(rules: AccessConfig, role: str, action: Action, resource: Resource) -> Decision:
    c = rules.cases
    roles = {Action.OPEN_CASE: c.open_roles, Action.HANDLE_CASE: c.handle_roles, Action.CLOSE_CASE: c.close_roles,
             Action.READ_CASES: c.read_roles, Action.READ_REPORTER: c.reporter_roles}[action]
    if role not in roles:
        return _deny(Reason.NOT_PERMITTED, f"role {role!r} may not {action.value}")
    if resource.camera is not None and not _sees(rules, role, resource):
        return _deny(Reason.NOT_VISIBLE, f"role {role!r} does not see camera {resource.camera!r}")
    return _allow()


def _by_token(rules: AccessConfig, action: Action, resource: Resource, token: TokenGrant, now: datetime) -> Decision:
    if action not in TOKEN_ACTIONS:
        return _deny(Reason.TOKEN_ACTION, f"a disposition token does not allow {action.value}")
    if token.revoked:
        return _deny(Reason.TOKEN_REVOKED, "the token was revoked")
    if now < token.not_before:
        return _deny(Reason.TOKEN_NOT_YET_VALID, "the token is not valid yet")
    if now >= token.expires:
        return _deny(Reason.TOKEN_EXPIRED, "the token has expired")
    if resource.camera is None or resource.camera not in token.cameras:
        return _deny(Reason.TOKEN_WRONG_CAMERA, "the token does not cover this camera")
    bad = _window(resource)
    if bad is not None:
        return bad
    assert resource.start is not None and resource.end is not None
    if resource.start < token.start or resource.end > token.end:
        return _deny(Reason.TOKEN_WRONG_WINDOW, "the time range lies outside the token's window")
    if action is Action.LIST_RECORDINGS:
        return _allow()
    if token.views_used >= token.max_views:
        return _deny(Reason.TOKEN_VIEWS_EXHAUSTED, f"all {token.max_views} views are used")
    d = rules.disposition
    extra = [Obligation(ObligationKind.MAX_RATE, d.max_rate)]
    if d.watermark:
        extra.append(Obligation(ObligationKind.WATERMARK, f"{token.grantee} / {token.token_id}"))
    return _allow(*extra)
