"""Enrolled wall displays over HTTP (administrators): enrol one, list them, revoke one.

An enrolment answers the display's token once, inside the wall URL's fragment (`/#display=...`):
a fragment is never sent to a server, so the token stays out of Referer headers and access logs.
Revocation is a POST of a reason to `/revocation`, as for dispositions: the record stays.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.errors import BadRequest
from gateway.http.appkeys import SERVICES
from gateway.http.body import read_json
from gateway.http.guard import authorize
from gateway.http.views import iso
from policy.audit.entries import AccessAction, AccessEvent
from policy.decision import Action
from policy.identity.displays import DisplayInfo

routes = web.RouteTableDef()

MAX_BODY = 4096


def display_json(info: DisplayInfo) -> dict[str, Any]:
    """A display as the API shows it; never its token."""
    return {
        "id": info.id,
        "name": info.name,
        "state": "revoked" if info.revoked_at is not None else "active",
        "created_at": iso(info.created_at),
        "created_by": info.created_by,
        "last_used_at": iso(info.last_used_at),
        "revoked_at": iso(info.revoked_at),
        "revoked_by": info.revoked_by,
        "revoke_reason": info.revoke_reason,
    }


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise BadRequest(f'expected {{"{key}": string}}')
    return value


@routes.post("/api/v1/displays")
async def enrol(request: web.Request) -> web.Response:
    """Enrol a display {"name"}: 201 with its token and wall URL, shown this once."""
    who, _ = await authorize(request, Action.ADMINISTER, log_allowed=False)
    services = request.app[SERVICES]
    name = _text(await read_json(request, MAX_BODY), "name")
    info, token = await services.displays.enrol(name, who.username)
    await services.access_log.record(
        AccessEvent(AccessAction.DISPLAY_ENROLLED, actor=who.username, role=who.role, client=request.remote,
                    details={"display_id": info.id, "display": info.name})
    )
    body = {**display_json(info), "token": token, "url": f"/#display={token}"}
    return web.json_response(body, status=201, headers={"Cache-Control": "no-store"})


@routes.get("/api/v1/displays")
async def list_displays(request: web.Request) -> web.Response:
    """Every enrolled display, revoked ones too (no tokens)."""
    await authorize(request, Action.ADMINISTER, log_allowed=False)
    displays = await request.app[SERVICES].displays.list()
    return web.json_response({"displays": [display_json(d) for d in displays]})


@routes.post("/api/v1/displays/{display_id}/revocation")
async def revoke(request: web.Request) -> web.Response:
    """Revoke a display with {"reason"}: its token is refused at once and its live sessions end
    within seconds. 201 with the display; 404 unknown, 409 revoked already."""
    who, _ = await authorize(request, Action.ADMINISTER, log_allowed=False)
    services = request.app[SERVICES]
    reason = _text(await read_json(request, MAX_BODY), "reason")
    info = await services.displays.revoke(request.match_info["display_id"], who.username, reason)
    await services.access_log.record(
        AccessEvent(AccessAction.DISPLAY_REVOKED, actor=who.username, role=who.role, client=request.remote,
                    reason=info.revoke_reason[:200], details={"display_id": info.id, "display": info.name})
    )
    return web.json_response(display_json(info), status=201)
