"""The decision function against an independent oracle of the written rules, plus a table of cases."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import ROLES, AccessConfig
from policy.decision import (
    Action,
    Context,
    Decision,
    Obligation,
    ObligationKind,
    Reason,
    Resource,
    Subject,
    TokenGrant,
    decide,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
GROUPS = ["a", "b", "c"]
GRANTS = ["a", "b", "c", "*"]
CAMERAS = ["cam1", "cam2", "cam3"]
USERS = ["ana", "budi", "citra"]
HALF_HOUR = timedelta(minutes=30)


# ---------------------------------------------------------------------------------------------
# The oracle: the module docstring's rules written again, as plain conditions. Every condition
# of an action must hold for an allow; the order does not matter, so no "first failure" logic.
# ---------------------------------------------------------------------------------------------


def oracle(rules: AccessConfig, subject: Subject, action: Action, res: Resource, ctx: Context) -> tuple[bool, set[Any]]:
    """(allowed, obligations as a set of (kind, value))."""
    log = ("log", None)
    has_window = res.start is not None and res.end is not None and res.start < res.end

    def sees(granted: list[str]) -> bool:
        return "*" in granted or bool(set(granted) & set(res.camera_groups))

    tok = ctx.token
    d = rules.disposition
    if tok is not None:
        conditions = [
            action in ("playback", "list_recordings", "export"),
            not tok.revoked,
            tok.not_before <= ctx.now,
            ctx.now < tok.expires,
            res.camera in tok.cameras,
            has_window,
            has_window and tok.start <= res.start and res.end <= tok.end,  # type: ignore[operator]
            action != "playback" or tok.views_used < tok.max_views,
            action != "export" or tok.copies_used < tok.copies,
        ]
        if not all(conditions):
            return False, set()
        if action == "list_recordings":
            return True, {log}
        if action == "export":
            return True, {log} if d.audio else {log, ("no_audio", None)}
        obligations: set[Any] = {log, ("max_rate", d.max_rate)}
        if d.watermark:
            obligations.add(("watermark", f"{tok.grantee} / {tok.token_id}"))
        if not d.audio:
            obligations.add(("no_audio", None))
        return True, obligations

    role = subject.role
    if role is None:
        return False, set()
    camera = res.camera is not None
    if action in ("view_camera", "live"):
        silent = action == "live" and role not in rules.live_audio
        return (camera and sees(rules.visibility.get(role, [])),  # type: ignore[call-overload]
                {log, ("no_audio", None)} if silent else {log})
    if action == "ptz":
        return (camera and sees(rules.ptz.get(role, [])), {log})  # type: ignore[call-overload]
    if action == "list_recordings":
        rule = rules.playback.get(role)  # type: ignore[call-overload]
        return (camera and rule is not None and sees(rule.groups), {log})
    if action in ("playback", "export"):
        rule = (rules.playback if action == "playback" else rules.export).get(role)  # type: ignore[call-overload]
        ok = (
            camera
            and sees(rules.visibility.get(role, []))  # type: ignore[call-overload]
            and rule is not None
            and sees(rule.groups)
            and not sees(d.required_groups)
            and has_window
            and (rule.max_age_h is None or res.start >= ctx.now - timedelta(hours=rule.max_age_h))  # type: ignore[operator]
        )
        if not ok:
            return False, set()
        obligations = {log}
        if action == "playback":
            obligations.add(("max_rate", rule.max_rate))
        if rule.watermark:
            obligations.add(("watermark", subject.user))
        if not rule.audio:
            obligations.add(("no_audio", None))
        return True, obligations
    if action == "file_request":
        if not camera:  # the role's gate before the letter is uploaded
            return role in d.requester_roles, {log}
        ok = (
            role in d.requester_roles
            and sees(rules.visibility.get(role, []))  # type: ignore[call-overload]
            and has_window
            and res.end <= ctx.now  # type: ignore[operator]
            and res.end - res.start <= timedelta(hours=d.max_window_h)  # type: ignore[operator]
        )
        return bool(ok), {log}
    if action == "read_requests":
        return role in d.reader_roles, {log}
    if action == "read_token":
        return ((role in d.approver_roles and subject.user in res.approvers)
                or (role in d.requester_roles and subject.user == res.owner)), {log}
    if action in ("approve", "refuse"):
        return role in d.approver_roles and res.owner is not None and res.owner != subject.user, {log}
    if action == "revoke":
        return role in d.revoker_roles, {log}
    if action == "read_access_log":
        return role in rules.audit_roles, {log}
    if action == "administer":
        return role in rules.admin_roles, {log}
    if action == "gateway_alerts":
        return role in rules.gateway_alert_roles, {log}
    if action in ("read_holds", "place_hold", "release_hold"):
        h = rules.holds
        roles = {"read_holds": h.read_roles, "place_hold": h.place_roles, "release_hold": h.release_roles}[action]
        visibility = next((groups for r, groups in rules.visibility.items() if r == role), [])
        in_view = sees(visibility) if camera else action == "read_holds"
        return role in roles and in_view, {log}
    if action in ("place_bookmark", "read_bookmarks"):
        b = rules.bookmarks
        roles = b.place_roles if action == "place_bookmark" else b.read_roles
        visibility = next((groups for r, groups in rules.visibility.items() if r == role), [])
        in_view = sees(visibility) if camera else action == "read_bookmarks"
        return role in roles and in_view, {log}
    if action == "end_session":
        return (res.owner is not None and res.owner == subject.user) or role in rules.end_session_roles, {log}
    if action in ("open_case", "handle_case", "close_case", "read_cases", "read_reporter"):
        c = rules.cases
        roles = {"open_case": c.open_roles, "handle_case": c.handle_roles, "close_case": c.close_roles,
                 "read_cases": c.read_roles, "read_reporter": c.reporter_roles}[action]
        visibility = next((groups for r, groups in rules.visibility.items() if r == role), [])
        return role in roles and (not camera or sees(visibility)), {log}
    if action == "read_exports":
        e = rules.exports
        return role in e.reader_roles or (role in rules.export and res.owner in (None, subject.user)), {log}
    if action == "cancel_export":
        return (res.owner is not None and res.owner == subject.user) or role in rules.exports.cancel_roles, {log}
    if action == "read_retention_changes":
        return role in rules.retention_approver_roles or role in rules.admin_roles, {log}
    if action == "decide_retention":
        return (role in rules.retention_approver_roles and res.owner is not None
                and res.owner != subject.user), {log}
    if action == "withdraw_retention":
        return role in rules.admin_roles and res.owner == subject.user, {log}
    k = rules.desk
    if action == "read_duty":
        return role in k.duty_roles, {log}
    if action == "close_shift":
        return role in k.close_roles, {log}
    if action == "read_handovers":
        return role in k.reader_roles or role in k.file_roles, {log}
    if action == "read_shift_records":
        return role in k.reader_roles or (role in k.file_roles and res.owner in (None, subject.user)), {log}
    if action == "file_shift_record":
        return role in k.file_roles, {log}
    if action == "accept_handover":
        return role in k.file_roles and res.owner is not None and res.owner != subject.user, {log}
    return False, set()


def as_set(decision: Decision) -> set[Any]:
    return {(o.kind.value, o.value) for o in decision.obligations}


# ---------------------------------------------------------------------------------------------
# Generators: small universes, times on a half-hour grid so boundaries (start exactly at the
# age limit, now exactly at expiry) come up often.
# ---------------------------------------------------------------------------------------------

roles_st = st.sampled_from(ROLES)
# Hypothesis favours small, empty values; mixing in generous ones makes allows common too.
grants_st = st.one_of(st.just(["*"]), st.lists(st.sampled_from(GRANTS), max_size=3, unique=True))
time_st = st.integers(-100, 8).map(lambda n: NOW + n * HALF_HOUR)
opt_time_st = st.one_of(st.none(), time_st)
rule_st = st.fixed_dictionaries(
    {
        "groups": grants_st,
        "max_age_h": st.sampled_from([None, 0.5, 1.0, 2.0, 24.0, 48.0]),
        "max_rate": st.sampled_from([1.0, 2.0, 8.0]),
        "watermark": st.booleans(),
        "audio": st.booleans(),
    }
)
role_list_st = st.one_of(st.just(list(ROLES)), st.lists(roles_st, max_size=5, unique=True))


def role_map(values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[Any, Any]]:
    return st.one_of(st.fixed_dictionaries({r: values for r in ROLES}), st.dictionaries(roles_st, values))


rules_st = st.builds(
    lambda vis, play, exp, ptz, audit, admin, alerts, end_session, holds, disp, desk, cases, exports, live_audio,
    bookmarks, retention: AccessConfig(
        visibility=vis, playback=play, export=exp, ptz=ptz, audit_roles=audit, admin_roles=admin,
        gateway_alert_roles=alerts, end_session_roles=end_session, holds=holds, disposition=disp, desk=desk,
        cases=cases, exports=exports, live_audio=live_audio, bookmarks=bookmarks, retention_approver_roles=retention,
    ),
    role_map(grants_st),
    role_map(rule_st),
    role_map(rule_st),
    role_map(grants_st),
    role_list_st,
    role_list_st,
    role_list_st,
    role_list_st,
    st.fixed_dictionaries({"read_roles": role_list_st, "place_roles": role_list_st, "release_roles": role_list_st}),
    st.fixed_dictionaries(
        {
            "approvals_required": st.integers(1, 3),
            "requester_roles": role_list_st,
            "approver_roles": role_list_st,
            "revoker_roles": role_list_st,
            "reader_roles": role_list_st,
            "required_groups": st.lists(st.sampled_from(GRANTS), max_size=2, unique=True),
            "max_window_h": st.sampled_from([0.5, 1.0, 6.0, 24.0]),
            "max_rate": st.sampled_from([0.5, 1.0]),
            "watermark": st.booleans(),
            "audio": st.booleans(),
        }
    ),
    st.fixed_dictionaries({"file_roles": role_list_st, "reader_roles": role_list_st, "duty_roles": role_list_st,
                           "close_roles": role_list_st}),
    st.fixed_dictionaries({"open_roles": role_list_st, "handle_roles": role_list_st, "close_roles": role_list_st,
                           "read_roles": role_list_st, "reporter_roles": role_list_st}),
    st.fixed_dictionaries({"reader_roles": role_list_st, "cancel_roles": role_list_st}),
    role_list_st,
    st.fixed_dictionaries({"place_roles": role_list_st, "read_roles": role_list_st}),
    role_list_st,
)
token_st = st.builds(
    lambda tid, grantee, cams, start, length, nbf, life, max_views, used, revoked, copies: TokenGrant(
        token_id=tid, request_id="req_1", grantee=grantee, cameras=frozenset(cams), start=start,
        end=start + length * HALF_HOUR, not_before=nbf, expires=nbf + life * HALF_HOUR,
        max_views=max_views, views_used=used, revoked=revoked, copies=copies[0], copies_used=copies[1],
    ),
    st.sampled_from(["dsp_1", "dsp_2"]),
    st.sampled_from(["Polres", "Budi"]),
    st.lists(st.sampled_from(CAMERAS), max_size=3, unique=True),
    time_st,
    st.sampled_from([0, 1, 2, 6, 200]),  # window length in half hours
    time_st,
    st.sampled_from([0, 1, 4, 200]),  # lifetime in half hours
    st.integers(1, 4),
    st.integers(0, 5),
    st.booleans(),
    st.tuples(st.integers(0, 2), st.integers(0, 3)),
)
wide_token_st = st.builds(
    lambda cams, max_views, used, revoked, copies: TokenGrant(
        token_id="dsp_w", request_id="req_w", grantee="Polres", cameras=frozenset(cams),
        start=NOW - timedelta(hours=60), end=NOW + timedelta(hours=5), not_before=NOW - timedelta(hours=60),
        expires=NOW + timedelta(hours=60), max_views=max_views, views_used=used, revoked=revoked,
        copies=copies[0], copies_used=copies[1],
    ),
    st.sampled_from([CAMERAS, CAMERAS, ["cam1"]]),
    st.integers(1, 4),
    st.integers(0, 2),
    st.sampled_from([False, False, False, True]),
    st.sampled_from([(0, 0), (1, 0), (1, 1), (2, 1)]),
)
query_st = st.tuples(
    st.builds(Subject, st.sampled_from(USERS), st.one_of(st.none(), roles_st)),
    # Every action is asked of every query (below), so each has the same cases however many there are.
    st.just(None),
    st.builds(
        lambda camera, groups, window, owner, approvers: Resource(camera, groups, window[0], window[1], owner,
                                                                  approvers),
        st.one_of(st.none(), st.sampled_from(CAMERAS), st.sampled_from(CAMERAS), st.sampled_from(CAMERAS)),
        st.frozensets(st.sampled_from(GROUPS), max_size=2),
        st.one_of(
            st.tuples(opt_time_st, opt_time_st),  # anything, including missing and reversed
            st.builds(lambda t, n: (t - n * HALF_HOUR, t), st.integers(-4, 1).map(lambda n: NOW + n * HALF_HOUR),
                      st.integers(1, 6)),  # recent and well-formed: the common case
        ),
        st.one_of(st.none(), st.sampled_from(USERS)),
        st.frozensets(st.sampled_from(USERS), max_size=2),
    ),
    st.builds(Context, st.sampled_from([NOW, NOW, NOW + HALF_HOUR]) | time_st, st.just("10.0.0.1"),
              st.one_of(st.none(), st.none(), token_st, wide_token_st)),
)

QUERIES_PER_CONFIG = 10
CONFIGS = 600  # x 10 queries x every action: over 100,000 cases


def test_decide_agrees_with_the_oracle_on_100000_cases() -> None:
    seen = {"cases": 0, "allows": 0, "denies": 0}
    allows_by_path: Counter[tuple[str, bool]] = Counter()
    false_allows: list[Any] = []
    false_denies: list[Any] = []

    @settings(max_examples=CONFIGS, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(rules_st, st.lists(query_st, min_size=QUERIES_PER_CONFIG, max_size=QUERIES_PER_CONFIG))
    def check(rules: AccessConfig, queries: list[tuple[Subject, None, Resource, Context]]) -> None:
        for subject, _, resource, context in queries:
            for action in Action:
                got = decide(rules, subject, action, resource, context)
                want, obligations = oracle(rules, subject, action, resource, context)
                seen["cases"] += 1
                seen["allows" if want else "denies"] += 1
                allows_by_path[(action.value, context.token is not None)] += want
                if got.allowed and not want:
                    false_allows.append((subject, action, resource, context, got))
                if want and not got.allowed:
                    false_denies.append((subject, action, resource, context, got))
                assert got.allowed == want, (subject, action, resource, context, got)
                if want:
                    assert as_set(got) == obligations, (action, got)
                else:
                    assert got.obligations == () and got.reason is not Reason.ALLOWED

    check()
    assert false_allows == [] and false_denies == []
    assert seen["cases"] >= 100_000
    # Both outcomes are exercised in bulk, so agreement is not an artefact of "deny everything".
    assert seen["allows"] >= 500 and seen["denies"] >= 5000, seen
    # ... and every action's allow path, by role and (where possible) by token, is exercised.
    paths = {(a.value, False) for a in Action} | {("playback", True), ("list_recordings", True)}
    thin = {p: allows_by_path[p] for p in paths if allows_by_path[p] < 3}
    assert not thin, thin


# ---------------------------------------------------------------------------------------------
# A table of named cases with their reasons.
# ---------------------------------------------------------------------------------------------

DEFAULT = AccessConfig()
CAM = Resource("cam1", frozenset({"gates"}), NOW - timedelta(hours=2), NOW - timedelta(hours=1))


def grant(**changes: Any) -> TokenGrant:
    base: dict[str, Any] = dict(
        token_id="dsp_x", request_id="req_x", grantee="Polres", cameras=frozenset({"cam1"}),
        start=NOW - timedelta(hours=3), end=NOW, not_before=NOW - timedelta(hours=1),
        expires=NOW + timedelta(days=1), max_views=3, views_used=0, revoked=False,
    )
    base.update(changes)
    return TokenGrant(**base)


@pytest.mark.parametrize(
    ("role", "action", "resource", "token", "reason"),
    [
        ("viewer", Action.LIVE, CAM, None, Reason.ALLOWED),
        ("viewer", Action.PLAYBACK, CAM, None, Reason.DISPOSITION_REQUIRED),
        ("operator", Action.PLAYBACK, CAM, None, Reason.ALLOWED),
        ("operator", Action.PLAYBACK, Resource("cam1", frozenset(), NOW - timedelta(hours=25), NOW), None,
         Reason.DISPOSITION_REQUIRED),
        ("supervisor", Action.PLAYBACK, Resource("cam1", frozenset(), NOW - timedelta(hours=25), NOW), None,
         Reason.ALLOWED),
        ("operator", Action.EXPORT, CAM, None, Reason.DISPOSITION_REQUIRED),
        ("operator", Action.PLAYBACK, Resource("cam1"), None, Reason.NO_WINDOW),
        ("operator", Action.PLAYBACK, Resource("cam1", frozenset(), NOW, NOW), None, Reason.BAD_WINDOW),
        ("auditor", Action.PTZ, CAM, None, Reason.NOT_VISIBLE),
        ("operator", Action.APPROVE, Resource(owner="someone"), None, Reason.NOT_PERMITTED),
        ("supervisor", Action.APPROVE, Resource(owner="me"), None, Reason.OWN_REQUEST),
        ("supervisor", Action.APPROVE, Resource(owner="other"), None, Reason.ALLOWED),
        ("supervisor", Action.APPROVE, Resource(), None, Reason.NOT_PERMITTED),
        ("operator", Action.FILE_REQUEST, CAM, None, Reason.ALLOWED),
        ("viewer", Action.FILE_REQUEST, CAM, None, Reason.NOT_PERMITTED),
        # No camera named: the role's gate before the letter is uploaded.
        ("operator", Action.FILE_REQUEST, Resource(), None, Reason.ALLOWED),
        ("viewer", Action.FILE_REQUEST, Resource(), None, Reason.NOT_PERMITTED),
        ("operator", Action.FILE_REQUEST, Resource("cam1", frozenset(), NOW - timedelta(hours=1), NOW + HALF_HOUR),
         None, Reason.FUTURE_WINDOW),
        ("operator", Action.FILE_REQUEST, Resource("cam1", frozenset(), NOW - timedelta(hours=25), NOW),
         None, Reason.WINDOW_TOO_LONG),
        ("auditor", Action.READ_ACCESS_LOG, Resource(), None, Reason.ALLOWED),
        ("operator", Action.READ_ACCESS_LOG, Resource(), None, Reason.NOT_PERMITTED),
        ("operator", Action.REVOKE, Resource(), None, Reason.NOT_PERMITTED),
        (None, Action.LIVE, CAM, None, Reason.NO_ROLE),
        (None, Action.PLAYBACK, CAM, grant(), Reason.ALLOWED),
        (None, Action.LIST_RECORDINGS, CAM, grant(views_used=3), Reason.ALLOWED),
        (None, Action.EXPORT, CAM, grant(), Reason.TOKEN_NO_COPIES),
        (None, Action.EXPORT, CAM, grant(copies=1), Reason.ALLOWED),
        (None, Action.EXPORT, CAM, grant(copies=1, copies_used=1), Reason.TOKEN_COPIES_EXHAUSTED),
        (None, Action.EXPORT, CAM, grant(copies=1, views_used=3), Reason.ALLOWED),
        (None, Action.READ_EXPORTS, CAM, grant(copies=1), Reason.TOKEN_ACTION),
        ("supervisor", Action.READ_EXPORTS, Resource(owner="other"), None, Reason.ALLOWED),
        ("operator", Action.READ_EXPORTS, Resource(owner="other"), None, Reason.NOT_PERMITTED),
        ("operator", Action.CANCEL_EXPORT, Resource(owner="other"), None, Reason.NOT_OWNER),
        (None, Action.LIVE, CAM, grant(), Reason.TOKEN_ACTION),
        (None, Action.PLAYBACK, CAM, grant(revoked=True), Reason.TOKEN_REVOKED),
        (None, Action.PLAYBACK, CAM, grant(not_before=NOW + timedelta(seconds=1)), Reason.TOKEN_NOT_YET_VALID),
        (None, Action.PLAYBACK, CAM, grant(expires=NOW), Reason.TOKEN_EXPIRED),
        (None, Action.PLAYBACK, Resource("cam2", frozenset(), CAM.start, CAM.end), grant(), Reason.TOKEN_WRONG_CAMERA),
        (None, Action.PLAYBACK, Resource("cam1", frozenset(), NOW - timedelta(hours=4), NOW), grant(),
         Reason.TOKEN_WRONG_WINDOW),
        (None, Action.PLAYBACK, CAM, grant(views_used=3), Reason.TOKEN_VIEWS_EXHAUSTED),
        # A token decides alone: an admin presenting a revoked token is refused.
        ("admin", Action.PLAYBACK, CAM, grant(revoked=True), Reason.TOKEN_REVOKED),
    ],
)
def test_named_cases(role: str | None, action: Action, resource: Resource, token: TokenGrant | None,
                     reason: Reason) -> None:
    subject = Subject("me", role)
    got = decide(DEFAULT, subject, action, resource, Context(NOW, "10.0.0.1", token))
    assert got.reason is reason, got
    assert got.allowed is (reason is Reason.ALLOWED)


# Holds and WHEP sessions, by default (supervisors and admins hold; admins end others' sessions) and
# configured otherwise. "gone" is a camera no longer configured: no groups, so only "*" sees it.
HOLD_RULES = AccessConfig(
    visibility={"supervisor": ["lobby"], "operator": ["*"]},
    holds={"read_roles": ["operator"], "place_roles": ["operator", "supervisor"], "release_roles": ["supervisor"]},
    end_session_roles=["supervisor"],
)
LOBBY = Resource("cam2", frozenset({"lobby"}))
GONE = Resource("gone")


@pytest.mark.parametrize(
    ("rules", "role", "action", "resource", "reason"),
    [
        (DEFAULT, "supervisor", Action.READ_HOLDS, Resource(), Reason.ALLOWED),
        (DEFAULT, "admin", Action.READ_HOLDS, CAM, Reason.ALLOWED),
        (DEFAULT, "operator", Action.READ_HOLDS, Resource(), Reason.NOT_PERMITTED),
        (DEFAULT, "auditor", Action.READ_HOLDS, CAM, Reason.NOT_PERMITTED),
        (DEFAULT, "supervisor", Action.PLACE_HOLD, CAM, Reason.ALLOWED),
        (DEFAULT, "viewer", Action.PLACE_HOLD, CAM, Reason.NOT_PERMITTED),
        (DEFAULT, "supervisor", Action.PLACE_HOLD, Resource(), Reason.NO_CAMERA),
        (DEFAULT, "admin", Action.RELEASE_HOLD, GONE, Reason.ALLOWED),
        (DEFAULT, "operator", Action.RELEASE_HOLD, CAM, Reason.NOT_PERMITTED),
        (DEFAULT, "supervisor", Action.RELEASE_HOLD, Resource(), Reason.NO_CAMERA),
        (DEFAULT, "viewer", Action.END_SESSION, Resource("cam1", owner="me"), Reason.ALLOWED),
        (DEFAULT, "viewer", Action.END_SESSION, Resource("cam1", owner="other"), Reason.NOT_PERMITTED),
        (DEFAULT, "supervisor", Action.END_SESSION, Resource("cam1", owner="other"), Reason.NOT_PERMITTED),
        (DEFAULT, "supervisor", Action.END_SESSION, Resource("cam1"), Reason.NOT_PERMITTED),  # a token's session
        (DEFAULT, "admin", Action.END_SESSION, Resource("cam1"), Reason.ALLOWED),
        (DEFAULT, None, Action.END_SESSION, Resource("cam1", owner="me"), Reason.NO_ROLE),
        (HOLD_RULES, "operator", Action.READ_HOLDS, Resource(), Reason.ALLOWED),
        (HOLD_RULES, "operator", Action.READ_HOLDS, GONE, Reason.ALLOWED),
        (HOLD_RULES, "supervisor", Action.READ_HOLDS, Resource(), Reason.NOT_PERMITTED),
        (HOLD_RULES, "supervisor", Action.PLACE_HOLD, LOBBY, Reason.ALLOWED),
        (HOLD_RULES, "supervisor", Action.PLACE_HOLD, CAM, Reason.NOT_VISIBLE),
        (HOLD_RULES, "operator", Action.PLACE_HOLD, CAM, Reason.ALLOWED),
        (HOLD_RULES, "operator", Action.RELEASE_HOLD, CAM, Reason.NOT_PERMITTED),
        (HOLD_RULES, "supervisor", Action.RELEASE_HOLD, LOBBY, Reason.ALLOWED),
        (HOLD_RULES, "supervisor", Action.RELEASE_HOLD, GONE, Reason.NOT_VISIBLE),
        (HOLD_RULES, "admin", Action.PLACE_HOLD, LOBBY, Reason.NOT_PERMITTED),
        (HOLD_RULES, "supervisor", Action.END_SESSION, Resource("cam1", owner="other"), Reason.ALLOWED),
        (HOLD_RULES, "admin", Action.END_SESSION, Resource("cam1", owner="other"), Reason.NOT_PERMITTED),
    ],
)
def test_hold_and_session_cases(rules: AccessConfig, role: str | None, action: Action, resource: Resource,
                                reason: Reason) -> None:
    got = decide(rules, Subject("me", role), action, resource, Context(NOW, "10.0.0.1"))
    assert got.reason is reason, got
    assert got.allowed is (reason is Reason.ALLOWED)


BOOKMARK_RULES = AccessConfig(visibility={"operator": ["lobby"], "viewer": ["*"]},
                              bookmarks={"place_roles": ["operator"], "read_roles": ["viewer", "operator"]})


@pytest.mark.parametrize(
    ("rules", "role", "action", "resource", "reason"),
    [
        (DEFAULT, "operator", Action.PLACE_BOOKMARK, CAM, Reason.ALLOWED),
        (DEFAULT, "supervisor", Action.PLACE_BOOKMARK, CAM, Reason.ALLOWED),
        (DEFAULT, "admin", Action.PLACE_BOOKMARK, CAM, Reason.ALLOWED),
        (DEFAULT, "viewer", Action.PLACE_BOOKMARK, CAM, Reason.NOT_PERMITTED),
        (DEFAULT, "auditor", Action.PLACE_BOOKMARK, CAM, Reason.NOT_PERMITTED),
        (DEFAULT, "operator", Action.PLACE_BOOKMARK, Resource(), Reason.NO_CAMERA),
        (DEFAULT, "auditor", Action.READ_BOOKMARKS, CAM, Reason.ALLOWED),
        (DEFAULT, "operator", Action.READ_BOOKMARKS, Resource(), Reason.ALLOWED),
        (DEFAULT, "viewer", Action.READ_BOOKMARKS, Resource(), Reason.NOT_PERMITTED),
        (BOOKMARK_RULES, "operator", Action.PLACE_BOOKMARK, LOBBY, Reason.ALLOWED),
        (BOOKMARK_RULES, "operator", Action.PLACE_BOOKMARK, CAM, Reason.NOT_VISIBLE),
        (BOOKMARK_RULES, "operator", Action.READ_BOOKMARKS, GONE, Reason.NOT_VISIBLE),
        (BOOKMARK_RULES, "viewer", Action.READ_BOOKMARKS, GONE, Reason.ALLOWED),
        (BOOKMARK_RULES, "supervisor", Action.PLACE_BOOKMARK, LOBBY, Reason.NOT_PERMITTED),
        (BOOKMARK_RULES, None, Action.READ_BOOKMARKS, LOBBY, Reason.NO_ROLE),
    ],
)
def test_bookmark_cases(rules: AccessConfig, role: str | None, action: Action, resource: Resource,
                        reason: Reason) -> None:
    got = decide(rules, Subject("me", role), action, resource, Context(NOW, "10.0.0.1"))
    assert got.reason is reason, got
    assert got.allowed is (reason is Reason.ALLOWED)


@pytest.mark.parametrize(
    ("role", "action", "owner", "reason"),
    [
        ("supervisor", Action.DECIDE_RETENTION, "other", Reason.ALLOWED),
        ("supervisor", Action.DECIDE_RETENTION, "me", Reason.OWN_REQUEST),
        ("supervisor", Action.DECIDE_RETENTION, None, Reason.NOT_PERMITTED),
        ("admin", Action.DECIDE_RETENTION, "other", Reason.NOT_PERMITTED),
        ("operator", Action.DECIDE_RETENTION, "other", Reason.NOT_PERMITTED),
        ("admin", Action.READ_RETENTION_CHANGES, None, Reason.ALLOWED),
        ("supervisor", Action.READ_RETENTION_CHANGES, None, Reason.ALLOWED),
        ("operator", Action.READ_RETENTION_CHANGES, None, Reason.NOT_PERMITTED),
        ("auditor", Action.READ_RETENTION_CHANGES, None, Reason.NOT_PERMITTED),
        ("admin", Action.WITHDRAW_RETENTION, "me", Reason.ALLOWED),
        ("admin", Action.WITHDRAW_RETENTION, "other", Reason.NOT_PERMITTED),
        ("admin", Action.WITHDRAW_RETENTION, None, Reason.NOT_PERMITTED),
        ("supervisor", Action.WITHDRAW_RETENTION, "me", Reason.NOT_PERMITTED),  # no longer an administrator
    ],
)
def test_retention_change_cases(role: str, action: Action, owner: str | None, reason: Reason) -> None:
    """A shortening of retention is decided by a supervisor who is not the one who asked (R20)."""
    got = decide(DEFAULT, Subject("me", role), action, Resource(owner=owner), Context(NOW, "10.0.0.1"))
    assert got.reason is reason, got
    assert got.allowed is (reason is Reason.ALLOWED)


def test_a_token_neither_holds_nor_ends_sessions() -> None:
    for action in (Action.READ_HOLDS, Action.PLACE_HOLD, Action.RELEASE_HOLD, Action.END_SESSION):
        got = decide(DEFAULT, Subject("Polres", None), action, CAM, Context(NOW, "", grant()))
        assert got.reason is Reason.TOKEN_ACTION, (action, got)


def test_token_playback_carries_rate_and_watermark() -> None:
    got = decide(DEFAULT, Subject("Polres", None), Action.PLAYBACK, CAM, Context(NOW, "", grant()))
    assert got.obligation(ObligationKind.LOG) == Obligation(ObligationKind.LOG)
    assert got.obligation(ObligationKind.MAX_RATE) == Obligation(ObligationKind.MAX_RATE, 1.0)
    watermark = got.obligation(ObligationKind.WATERMARK)
    assert watermark is not None and "Polres" in str(watermark.value) and "dsp_x" in str(watermark.value)
    assert got.max_rate == 1.0 and got.watermark == watermark.value
    live = decide(DEFAULT, Subject("v", "viewer"), Action.LIVE, CAM, Context(NOW))
    assert live.allowed and live.max_rate is None and live.watermark is None


def test_required_groups_need_a_disposition_even_for_supervisors() -> None:
    rules = AccessConfig(disposition={"required_groups": ["gates"]})
    got = decide(rules, Subject("s", "supervisor"), Action.PLAYBACK, CAM, Context(NOW))
    assert got.reason is Reason.DISPOSITION_REQUIRED
    other = Resource("cam2", frozenset({"lobby"}), CAM.start, CAM.end)
    assert decide(rules, Subject("s", "supervisor"), Action.PLAYBACK, other, Context(NOW)).allowed


def test_deny_by_default_with_empty_rules() -> None:
    rules = AccessConfig(visibility={}, playback={}, export={}, ptz={}, audit_roles=[], admin_roles=[],
                         gateway_alert_roles=[], end_session_roles=[],
                         holds={"read_roles": [], "place_roles": [], "release_roles": []},
                         disposition={"requester_roles": [], "approver_roles": [], "revoker_roles": [],
                                      "reader_roles": []},
                         desk={"file_roles": [], "reader_roles": [], "duty_roles": [], "close_roles": []},
                         cases={"open_roles": [], "handle_roles": [], "close_roles": [], "read_roles": [],
                                "reporter_roles": []},
                         exports={"reader_roles": [], "cancel_roles": []},
                         bookmarks={"place_roles": [], "read_roles": []}, retention_approver_roles=[])
    for role in ROLES:
        for action in Action:
            got = decide(rules, Subject("x", role), action, Resource("cam1", frozenset({"a"}), CAM.start, CAM.end,
                                                                      owner="y"), Context(NOW))
            assert not got.allowed, (role, action)


def test_audio_is_served_unless_a_rule_says_no() -> None:
    """Sound is restricted in some jurisdictions: per role live (`live_audio`), per replay rule
    and for token holders (`disposition.audio`); the allow carries `no_audio`, never a deny."""
    assert decide(DEFAULT, Subject("v", "viewer"), Action.LIVE, CAM, Context(NOW)).audio
    quiet = AccessConfig(live_audio=["supervisor"], playback={"operator": {"audio": False}},
                         disposition={"audio": False})
    live = decide(quiet, Subject("v", "viewer"), Action.LIVE, CAM, Context(NOW))
    assert live.allowed and not live.audio
    assert decide(quiet, Subject("s", "supervisor"), Action.LIVE, CAM, Context(NOW)).audio
    play = decide(quiet, Subject("o", "operator"), Action.PLAYBACK, CAM, Context(NOW))
    assert play.allowed and not play.audio
    token = decide(quiet, Subject("Polres", None), Action.PLAYBACK, CAM, Context(NOW, "", grant()))
    assert token.allowed and not token.audio
    assert decide(DEFAULT, Subject("Polres", None), Action.PLAYBACK, CAM, Context(NOW, "", grant())).audio


# Issue 20: a replay rule never widens visibility. An operator whose `visibility` is the lobby and whose
# `playback`/`export` rules cover every camera ("*") is refused another camera's replay and copy, as
# its detail, live view and /list are; a token holder is decided by the token's cameras alone.
REPLAY_VISIBILITY = AccessConfig(
    visibility={"operator": ["lobby"]},
    playback={"operator": {"groups": ["*"]}},
    export={"operator": {"groups": ["*"]}},
)


@pytest.mark.parametrize("action", [Action.PLAYBACK, Action.EXPORT])
def test_replay_needs_visibility(action: Action) -> None:
    hidden = Resource("cam1", frozenset({"gates"}), NOW - HALF_HOUR, NOW)
    lobby = Resource("cam2", frozenset({"lobby"}), NOW - HALF_HOUR, NOW)
    operator = Subject("o", "operator")
    assert decide(REPLAY_VISIBILITY, operator, Action.VIEW_CAMERA, hidden, Context(NOW)).reason is Reason.NOT_VISIBLE
    assert decide(REPLAY_VISIBILITY, operator, action, hidden, Context(NOW)).reason is Reason.NOT_VISIBLE
    assert decide(REPLAY_VISIBILITY, operator, action, lobby, Context(NOW)).allowed
    token = grant(copies=1)
    by_token = decide(REPLAY_VISIBILITY, Subject("Polres", None), action,
                      Resource("cam1", frozenset({"gates"}), token.start, token.end), Context(NOW, "", token))
    assert by_token.allowed, by_token
