"""Sign-in and sign-out: POST/DELETE /api/v1/session."""

from __future__ import annotations

import logging

from aiohttp import web

from core.errors import BadRequest, TooManyRequests, Unauthorized
from gateway.http.auth import bearer, require_role
from gateway.http.body import read_json
from gateway.http.keys import SERVICES
from gateway.http.views import iso

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


@routes.post("/api/v1/session")
async def sign_in(request: web.Request) -> web.Response:
    """{"username","password"} -> {"token","expires_at","role"}; failures logged and throttled."""
    services = request.app[SERVICES]
    body = await read_json(request, max_bytes=4096)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        raise BadRequest('expected {"username": string, "password": string}')
    address = request.remote or "?"
    wait = services.throttle.retry_after(username, address)
    if wait > 0:
        log.warning("sign-in throttled: user=%s address=%s", username, address)
        raise TooManyRequests("too many failed sign-ins; try again later", retry_after_s=wait)
    who = await services.users.authenticate(username, password)
    if who is None:
        services.throttle.failed(username, address)
        log.warning("sign-in failed: user=%s address=%s", username, address)
        raise Unauthorized("unknown user or wrong password")
    services.throttle.succeeded(username, address)
    token, expires = await services.sessions.issue(who, client=address)
    log.info("sign-in: user=%s role=%s address=%s", who.username, who.role, address)
    return web.json_response(
        {"token": token, "token_type": "Bearer", "expires_at": iso(expires), "role": who.role,
         "username": who.username},
        status=201,
    )


@routes.delete("/api/v1/session")
async def sign_out(request: web.Request) -> web.Response:
    """Revoke the caller's own token."""
    who = require_role(request, "viewer")
    token = bearer(request)
    assert token is not None  # the auth middleware resolved it
    await request.app[SERVICES].sessions.revoke(token)
    log.info("sign-out: user=%s", who.username)
    return web.Response(status=204)
