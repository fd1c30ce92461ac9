"""User administration over HTTP (administrators): list the accounts, disable or enable one, change
its role, set a new password. Each change is a `user_changed` entry in the access log.

Disabling an account (or setting its password) revokes its API sessions, so its next request is 401,
and ends its WHEP sessions, live and playback, before the answer. A gateway whose accounts are
changed from the CLI instead ends them at the sessions' next sign-in check (within
webrtc.sessions.SIGN_IN_CHECK_S). A role change holds from the account's next request on.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.errors import BadRequest
from gateway.http.appkeys import SERVICES
from gateway.http.body import read_json
from gateway.http.guard import authorize
from gateway.http.views import iso
from gateway.userlog import record_change
from policy.decision import Action
from policy.identity.useradmin import UserChange, UserInfo

routes = web.RouteTableDef()

MAX_BODY = 4096
PATCH_KEYS = frozenset({"enabled", "role"})
USER_DISABLED = "the user was disabled"
PASSWORD_SET = "an administrator set the user's password"


def user_json(info: UserInfo) -> dict[str, Any]:
    """An account as the API shows it; never its password."""
    return {"username": info.username, "role": info.role, "enabled": info.enabled,
            "created_at": iso(info.created_at), "last_sign_in_at": iso(info.last_sign_in_at)}


@routes.get("/api/v1/users")
async def list_users(request: web.Request) -> web.Response:
    """Every account, by name."""
    await authorize(request, Action.ADMINISTER, log_allowed=False)
    users = await request.app[SERVICES].user_admin.list()
    return web.json_response({"users": [user_json(u) for u in users]}, headers={"Cache-Control": "no-store"})


@routes.patch("/api/v1/users/{username}")
async def change_user(request: web.Request) -> web.Response:
    """{"enabled"?: bool, "role"?: str}: 200 with the account; 404 unknown, 409 when no enabled
    administrator would be left."""
    who, _ = await authorize(request, Action.ADMINISTER, log_allowed=False)
    body = await read_json(request, MAX_BODY)
    unknown = sorted(set(body) - PATCH_KEYS)
    enabled, role = body.get("enabled"), body.get("role")
    if unknown or not body or not (enabled is None or isinstance(enabled, bool)) or not (
            role is None or isinstance(role, str)):
        raise BadRequest('expected {"enabled"?: boolean, "role"?: string}'
                         + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
    services = request.app[SERVICES]
    change = await services.user_admin.change(request.match_info["username"], enabled=enabled, role=role)
    await record_change(services.access_log, change, who.username, who.role, request.remote, "api")
    if not change.user.enabled and any(c.field == "enabled" for c in change.changes):
        await services.webrtc.end_owned_by(change.user.username, USER_DISABLED)
    return web.json_response(user_json(change.user))


@routes.post("/api/v1/users/{username}/password")
async def set_password(request: web.Request) -> web.Response:
    """{"password"}: the account's new password; its sessions end. 204; 404 unknown, 400 short."""
    who, _ = await authorize(request, Action.ADMINISTER, log_allowed=False)
    body = await read_json(request, MAX_BODY)
    password = body.get("password")
    if not isinstance(password, str) or set(body) != {"password"}:
        raise BadRequest('expected {"password": string}')
    services = request.app[SERVICES]
    change: UserChange = await services.user_admin.set_password(request.match_info["username"], password)
    await record_change(services.access_log, change, who.username, who.role, request.remote, "api")
    await services.webrtc.end_owned_by(change.user.username, PASSWORD_SET)
    return web.Response(status=204)
