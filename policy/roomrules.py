"""The rooms' rules of the decision function (R10, R13-R19 in policy/decision.py's docstring):
evidence holds, the shift desk, cases, export jobs, bookmarks. Pure, like decide(), which calls them."""

from __future__ import annotations

from core.config import AccessConfig
from policy.vocabulary import Action, Decision, Reason, Resource, Subject, allow, deny, sees

CASE_ACTIONS = frozenset(
    {Action.OPEN_CASE, Action.HANDLE_CASE, Action.CLOSE_CASE, Action.READ_CASES, Action.READ_REPORTER}
)
DESK_ACTIONS = frozenset(
    {Action.FILE_SHIFT_RECORD, Action.READ_SHIFT_RECORDS, Action.READ_HANDOVERS, Action.ACCEPT_HANDOVER,
     Action.READ_DUTY, Action.CLOSE_SHIFT}
)
HOLD_ACTIONS = frozenset({Action.READ_HOLDS, Action.PLACE_HOLD, Action.RELEASE_HOLD})
BOOKMARK_ACTIONS = frozenset({Action.PLACE_BOOKMARK, Action.READ_BOOKMARKS})
EXPORT_JOB_ACTIONS = frozenset({Action.READ_EXPORTS, Action.CANCEL_EXPORT})


def hold_rule(rules: AccessConfig, role: str, action: Action, resource: Resource) -> Decision:
    h = rules.holds
    roles = {Action.READ_HOLDS: h.read_roles, Action.PLACE_HOLD: h.place_roles, Action.RELEASE_HOLD: h.release_roles}[action]
    if role not in roles:
        return deny(Reason.NOT_PERMITTED, f"role {role!r} may not {action.value}")
    if resource.camera is None:
        # Listing holds names no camera; each hold listed is then decided with its own.
        return allow() if action is Action.READ_HOLDS else deny(Reason.NO_CAMERA, "no camera named")
    if not sees(rules, role, resource):
        return deny(Reason.NOT_VISIBLE, f"role {role!r} does not see camera {resource.camera!r}")
    return allow()


def bookmark_rule(rules: AccessConfig, role: str, action: Action, resource: Resource) -> Decision:
    b = rules.bookmarks
    roles = b.place_roles if action is Action.PLACE_BOOKMARK else b.read_roles
    if role not in roles:
        return deny(Reason.NOT_PERMITTED, f"role {role!r} may not {action.value}")
    if resource.camera is None:
        # A listing over every camera names none; each bookmark listed is decided with its own.
        return allow() if action is Action.READ_BOOKMARKS else deny(Reason.NO_CAMERA, "no camera named")
    if not sees(rules, role, resource):
        return deny(Reason.NOT_VISIBLE, f"role {role!r} does not see camera {resource.camera!r}")
    return allow()


def desk_rule(rules: AccessConfig, subject: Subject, action: Action, resource: Resource) -> Decision:
    d = rules.desk
    role = subject.role
    files, reads = role in d.file_roles, role in d.reader_roles
    if action in (Action.READ_DUTY, Action.CLOSE_SHIFT):
        roles = d.duty_roles if action is Action.READ_DUTY else d.close_roles
        return allow() if role in roles else deny(Reason.NOT_PERMITTED, f"role {role!r} may not {action.value}")
    if action is Action.READ_HANDOVERS:
        return allow() if files or reads else deny(Reason.NOT_PERMITTED, f"role {role!r} may not read handovers")
    if action is Action.READ_SHIFT_RECORDS:
        if reads:
            return allow()
        if not files:
            return deny(Reason.NOT_PERMITTED, f"role {role!r} may not read shift records")
        if resource.owner is not None and resource.owner != subject.user:
            return deny(Reason.NOT_OWNER, f"role {role!r} reads its own shift records only")
        return allow()
    if not files:
        return deny(Reason.NOT_PERMITTED, f"role {role!r} may not {action.value}")
    if action is Action.ACCEPT_HANDOVER:
        if resource.owner is None:
            return deny(Reason.NOT_PERMITTED, "the handover's author is unknown")
        if resource.owner == subject.user:
            return deny(Reason.OWN_HANDOVER, "nobody countersigns their own handover")
    return allow()


def case_rule(rules: AccessConfig, role: str, action: Action, resource: Resource) -> Decision:
    c = rules.cases
    roles = {Action.OPEN_CASE: c.open_roles, Action.HANDLE_CASE: c.handle_roles, Action.CLOSE_CASE: c.close_roles,
             Action.READ_CASES: c.read_roles, Action.READ_REPORTER: c.reporter_roles}[action]
    if role not in roles:
        return deny(Reason.NOT_PERMITTED, f"role {role!r} may not {action.value}")
    if resource.camera is not None and not sees(rules, role, resource):
        return deny(Reason.NOT_VISIBLE, f"role {role!r} does not see camera {resource.camera!r}")
    return allow()


def export_job_rule(rules: AccessConfig, subject: Subject, action: Action, resource: Resource) -> Decision:
    e = rules.exports
    role = subject.role
    own = resource.owner is None or resource.owner == subject.user
    if action is Action.CANCEL_EXPORT:
        if (resource.owner is not None and resource.owner == subject.user) or role in e.cancel_roles:
            return allow()
        return deny(Reason.NOT_OWNER, f"role {role!r} may cancel its own export jobs only")
    if role in e.reader_roles:
        return allow()
    if role not in rules.export:
        return deny(Reason.NOT_PERMITTED, f"role {role!r} may not read export jobs")
    if not own:
        return deny(Reason.NOT_OWNER, f"role {role!r} reads its own export jobs only")
    return allow()
