"""The decision function: who may do what to which camera and time range. Pure: no I/O, no clock.

The rules, in the order they are applied (the first that fails decides; deny by default):

With a disposition token in the context (the holder is whoever presents it; the role plays no part):
  T1. only `playback`, `list_recordings` and `export` (a copy) can be done with a token;
  T2. a revoked token is refused; T3. before not-before and T4. at or after expiry it is refused;
  T5. the camera must be one of the token's cameras;
  T6. the time range must be given, non-empty, and lie inside the token's window;
  T7. `playback` needs a view left (views used < maximum views; the caller counts them per camera
      or in total, `disposition.views_per`);
  T8. `export` needs copies allowed (management approved a copy) and one left (copies used < copies).
  Allowed: log; playback also gets the disposition's maximum rate and, if configured, a watermark
  naming the grantee and the token. A copy gets no watermark: it is the untouched original that
  management approved handing over, named in the manifest and the access log. Playback and copies
  get `no_audio` when `disposition.audio` is false.

Without a token, by the subject's role (no role: denied):
  R1. `view_camera`, `live`: the role's `visibility` groups match the camera (log); `live` also gets
      `no_audio` when the role is not in `live_audio`.
  R2. `ptz`: the role's `ptz` groups match the camera (log).
  R3. `list_recordings`: the role has a `playback` rule whose groups match the camera (log).
  R4. `playback`, `export`: the role sees the camera (`visibility`; else NOT_VISIBLE, as R1); the
      role has a rule (`playback` / `export`) whose groups match the camera; the camera is in no `disposition.required_groups` group; the time range is given and
      non-empty; its start is no older than the rule's `max_age_h`. Otherwise a disposition is
      needed. Allowed: log, the rule's maximum rate (playback), a watermark with the user's name
      if the rule asks for one, `no_audio` if the rule's `audio` is false.
  R5. `file_request`: role in `requester_roles`; the role sees the camera (`visibility`); the time
      range is given, non-empty, ends no later than now and spans at most `max_window_h` (log).
  R6. `read_requests`: role in `reader_roles` (log). `read_token` (the issued token itself): role in
      `approver_roles` and the subject is one of the approvers whose approvals issued it, or role in
      `requester_roles` and the subject is the request's owner (log).
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
  R18. `read_exports`: role in `exports.reader_roles`; or the role has an `export` rule and the job is
      the subject's own (`owner`; a listing names none and is narrowed to the subject's own) (log).
      `cancel_export`: the job is the subject's own, or role in `exports.cancel_roles` (log).
  R19. `place_bookmark`, `read_bookmarks`: role in `bookmarks.place_roles` / `bookmarks.read_roles`; a
      camera is named (only a listing of bookmarks may name none, and then each is decided with its
      camera) and the role sees it (`visibility`) (log).

  R20. `read_retention_changes`: role in `admin_roles` or `retention_approver_roles` (log).
      `decide_retention` (approve or reject a shortening of a camera's retention): role in
      `retention_approver_roles`; the change's owner (who asked) is known and is not the subject
      (a second person decides) (log).
      `withdraw_retention` (take back a pending shortening before it is decided): the subject is the
      change's owner (who asked) and still has a role in `admin_roles` (log).

A camera matches a list of groups when the list holds "*" or one of the camera's groups.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from core.config import AccessConfig, ReplayRule
from policy.roomrules import (
    BOOKMARK_ACTIONS,
    CASE_ACTIONS,
    DESK_ACTIONS,
    EXPORT_JOB_ACTIONS,
    HOLD_ACTIONS,
    bookmark_rule,
    case_rule,
    desk_rule,
    export_job_rule,
    hold_rule,
)
from policy.vocabulary import (
    Action,
    Context,
    Decision,
    Obligation,
    ObligationKind,
    Reason,
    Resource,
    Subject,
    TokenGrant,
    allow,
    deny,
    matches,
    sees,
)

__all__ = ["Action", "Context", "Decision", "Obligation", "ObligationKind", "Reason", "Resource", "Subject",
           "TokenGrant", "decide", "matches"]

TOKEN_ACTIONS = frozenset({Action.PLAYBACK, Action.LIST_RECORDINGS, Action.EXPORT})
NO_AUDIO = Obligation(ObligationKind.NO_AUDIO)


def _window(resource: Resource) -> Decision | None:
    if resource.start is None or resource.end is None:
        return deny(Reason.NO_WINDOW, "a start and an end are needed")
    if resource.start >= resource.end:
        return deny(Reason.BAD_WINDOW, "start must be before end")
    return None


def decide(rules: AccessConfig, subject: Subject, action: Action, resource: Resource, context: Context) -> Decision:
    """Allow or deny `action` on `resource`, with the reason and the obligations of an allow."""
    if context.token is not None:
        return _by_token(rules, action, resource, context.token, context.now)
    role = subject.role
    if role is None:
        return deny(Reason.NO_ROLE, "no role and no disposition token")
    if action in (Action.VIEW_CAMERA, Action.LIVE, Action.PTZ, Action.LIST_RECORDINGS):
        if resource.camera is None:
            return deny(Reason.NO_CAMERA, "no camera named")
        if action is Action.PTZ:
            granted: Collection[str] = rules.ptz.get(role, ())  # type: ignore[call-overload]
        elif action is Action.LIST_RECORDINGS:
            rule = rules.playback.get(role)  # type: ignore[call-overload]
            granted = rule.groups if rule is not None else ()
        else:
            granted = rules.visibility.get(role, ())  # type: ignore[call-overload]
        if not matches(granted, resource.camera_groups):
            return deny(Reason.NOT_VISIBLE, f"role {role!r} may not {action.value} this camera")
        if action is Action.LIVE and role not in rules.live_audio:
            return allow(NO_AUDIO)
        return allow()
    if action in (Action.PLAYBACK, Action.EXPORT):
        table = rules.playback if action is Action.PLAYBACK else rules.export
        return _replay(rules, subject, action, table.get(role), resource, context.now)  # type: ignore[call-overload]
    if action is Action.FILE_REQUEST:
        return _file_request(rules, role, resource, context.now)
    if action in HOLD_ACTIONS:
        return hold_rule(rules, role, action, resource)
    if action in BOOKMARK_ACTIONS:
        return bookmark_rule(rules, role, action, resource)
    if action in DESK_ACTIONS:
        return desk_rule(rules, subject, action, resource)
    if action in CASE_ACTIONS:
        return case_rule(rules, role, action, resource)
    if action in EXPORT_JOB_ACTIONS:
        return export_job_rule(rules, subject, action, resource)
    if action is Action.END_SESSION:
        if (resource.owner is not None and resource.owner == subject.user) or role in rules.end_session_roles:
            return allow()
        return deny(Reason.NOT_PERMITTED, f"role {role!r} may end its own sessions only")
    if action in (Action.READ_RETENTION_CHANGES, Action.DECIDE_RETENTION, Action.WITHDRAW_RETENTION):
        return _retention_rule(rules, subject, action, resource)
    d = rules.disposition
    if action is Action.READ_TOKEN:
        if ((role in d.approver_roles and subject.user in resource.approvers)
                or (role in d.requester_roles and subject.user == resource.owner)):
            return allow()
        return deny(Reason.NOT_PERMITTED, "only the request's approvers and its requester may read the token")
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
        return deny(Reason.NOT_PERMITTED, f"role {role!r} may not {action.value}")
    if action in (Action.APPROVE, Action.REFUSE):
        if resource.owner is None:
            return deny(Reason.NOT_PERMITTED, "the request's owner is unknown")
        if resource.owner == subject.user:
            return deny(Reason.OWN_REQUEST, "nobody decides their own request")
    return allow()


def _retention_rule(rules: AccessConfig, subject: Subject, action: Action, resource: Resource) -> Decision:
    role = subject.role
    approvers = rules.retention_approver_roles
    if action is Action.READ_RETENTION_CHANGES:
        if role in approvers or role in rules.admin_roles:
            return allow()
        return deny(Reason.NOT_PERMITTED, f"role {role!r} may not read retention changes")
    if action is Action.WITHDRAW_RETENTION:
        if role not in rules.admin_roles:
            return deny(Reason.NOT_PERMITTED, f"role {role!r} may not withdraw a change of retention")
        if resource.owner is None or resource.owner != subject.user:
            return deny(Reason.NOT_PERMITTED, "only the one who asked for a change withdraws it")
        return allow()
    if role not in approvers:
        return deny(Reason.NOT_PERMITTED, f"role {role!r} may not approve or reject a shortening of retention")
    if resource.owner is None:
        return deny(Reason.NOT_PERMITTED, "who asked for the change is unknown")
    if resource.owner == subject.user:
        return deny(Reason.OWN_REQUEST, "a shortening of retention is decided by a second person, not the one who asked")
    return allow()


def _replay(
    rules: AccessConfig, subject: Subject, action: Action, rule: ReplayRule | None, resource: Resource, now: datetime
) -> Decision:
    if resource.camera is None:
        return deny(Reason.NO_CAMERA, "no camera named")
    if subject.role is None or not sees(rules, subject.role, resource):
        # A replay rule never widens what the role sees: a camera hidden from it on the wall, the
        # detail and /list is hidden here too, however broad its `playback`/`export` groups are.
        return deny(Reason.NOT_VISIBLE, f"role {subject.role!r} does not see camera {resource.camera!r}")
    if rule is None or not matches(rule.groups, resource.camera_groups):
        return deny(Reason.DISPOSITION_REQUIRED, f"role {subject.role!r} needs a disposition to {action.value} this camera")
    if matches(rules.disposition.required_groups, resource.camera_groups):
        return deny(Reason.DISPOSITION_REQUIRED, f"this camera's recordings need a disposition to {action.value}")
    bad = _window(resource)
    if bad is not None:
        return bad
    assert resource.start is not None
    if rule.max_age_h is not None and resource.start < now - timedelta(hours=rule.max_age_h):
        return deny(
            Reason.DISPOSITION_REQUIRED,
            f"role {subject.role!r} may {action.value} the last {rule.max_age_h:g} h only; older needs a disposition",
        )
    extra: list[Obligation] = []
    if action is Action.PLAYBACK:
        extra.append(Obligation(ObligationKind.MAX_RATE, rule.max_rate))
    if rule.watermark:
        extra.append(Obligation(ObligationKind.WATERMARK, subject.user))
    if not rule.audio:
        extra.append(NO_AUDIO)
    return allow(*extra)


def _file_request(rules: AccessConfig, role: str, resource: Resource, now: datetime) -> Decision:
    d = rules.disposition
    if role not in d.requester_roles:
        return deny(Reason.NOT_PERMITTED, f"role {role!r} may not file playback requests")
    if resource.camera is None:
        # No camera named: may the role file at all (asked before the letter is uploaded)?
        # Every camera of the request is decided again with its window when the form is read.
        return allow()
    if not sees(rules, role, resource):
        return deny(Reason.NOT_VISIBLE, f"role {role!r} does not see camera {resource.camera!r}")
    bad = _window(resource)
    if bad is not None:
        return bad
    assert resource.start is not None and resource.end is not None
    if resource.end > now:
        return deny(Reason.FUTURE_WINDOW, "the time range must end in the past")
    if resource.end - resource.start > timedelta(hours=d.max_window_h):
        return deny(Reason.WINDOW_TOO_LONG, f"one request covers at most {d.max_window_h:g} h")
    return allow()


def _by_token(rules: AccessConfig, action: Action, resource: Resource, token: TokenGrant, now: datetime) -> Decision:
    if action not in TOKEN_ACTIONS:
        return deny(Reason.TOKEN_ACTION, f"a disposition token does not allow {action.value}")
    if token.revoked:
        return deny(Reason.TOKEN_REVOKED, "the token was revoked")
    if now < token.not_before:
        return deny(Reason.TOKEN_NOT_YET_VALID, "the token is not valid yet")
    if now >= token.expires:
        return deny(Reason.TOKEN_EXPIRED, "the token has expired")
    if resource.camera is None or resource.camera not in token.cameras:
        return deny(Reason.TOKEN_WRONG_CAMERA, "the token does not cover this camera")
    bad = _window(resource)
    if bad is not None:
        return bad
    assert resource.start is not None and resource.end is not None
    if resource.start < token.start or resource.end > token.end:
        return deny(Reason.TOKEN_WRONG_WINDOW, "the time range lies outside the token's window")
    if action is Action.LIST_RECORDINGS:
        return allow()
    if action is Action.EXPORT:
        if token.copies <= 0:
            return deny(Reason.TOKEN_NO_COPIES, "the disposition allows replay only, no copy")
        if token.copies_used >= token.copies:
            return deny(Reason.TOKEN_COPIES_EXHAUSTED, f"all {token.copies} copies are used")
        return allow() if rules.disposition.audio else allow(NO_AUDIO)
    if token.views_used >= token.max_views:
        return deny(Reason.TOKEN_VIEWS_EXHAUSTED, f"all {token.max_views} views are used")
    d = rules.disposition
    extra = [Obligation(ObligationKind.MAX_RATE, d.max_rate)]
    if d.watermark:
        extra.append(Obligation(ObligationKind.WATERMARK, f"{token.grantee} / {token.token_id}"))
    if not d.audio:
        extra.append(NO_AUDIO)
    return allow(*extra)
