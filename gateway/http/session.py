"""Sign-in, who the caller is, and sign-out: POST/GET/DELETE /api/v1/session."""

from __future__ import annotations

import logging

from aiohttp import web

from core.errors import BadRequest, SignInThrottled, Unauthorized
from gateway.http.auth import bearer, signed_in
from gateway.http.body import read_json
from gateway.http.appkeys import SERVICES
from gateway.http.views import iso
from gateway.refusallog import BUSY, THROTTLED
from policy.audit.entries import AccessAction, AccessEvent
from policy.identity.displays import USERNAME_PREFIX
from policy.identity.users import SignInRefusal

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
    # The name as typed is logged (it may be unknown); never the password.
    name = username[:64]
    wait = services.throttle.retry_after(username, address)
    hashing = services.users.hashing
    if wait > 0 or not hashing.admits(address):
        # Refused before any hashing, as often as an anonymous caller likes: one entry a minute per
        # user and address carries the count (gateway/refusallog.py).
        await services.refusals.sign_in_throttled(name, address, THROTTLED if wait > 0 else BUSY)
        raise SignInThrottled("too many failed sign-ins; try again later" if wait > 0
                              else "too many sign-ins in progress from this address; try again shortly",
                              retry_after_s=max(wait, 1.0))
    async with hashing.slot(address):
        who = await services.users.check(username, password)
    if isinstance(who, SignInRefusal):
        services.throttle.failed(username, address)
        log.warning("sign-in failed: user=%r address=%s reason=%s", name, address, who.value)
        await services.access_log.record(
            AccessEvent(AccessAction.SIGN_IN_FAILED, actor=name, client=address, outcome="deny",
                        reason=who.value)
        )
        # Only whoever knows the password learns that the account is disabled.
        raise Unauthorized("this account is disabled" if who is SignInRefusal.DISABLED else who.value)
    services.throttle.succeeded(username, address)
    token, expires = await services.sessions.issue(who, client=address)
    log.info("sign-in: user=%s role=%s address=%s", who.username, who.role, address)
    await services.access_log.record(
        AccessEvent(AccessAction.SIGN_IN, actor=who.username, role=who.role, client=address)
    )
    return web.json_response(
        {"token": token, "token_type": "Bearer", "expires_at": iso(expires), "role": who.role,
         "username": who.username},
        status=201,
    )


@routes.get("/api/v1/session")
async def whoami(request: web.Request) -> web.Response:
    """Who the bearer token is: {"username","role","display"}; `display` ({"id","name"}) for an
    enrolled wall display, else null. The wall asks it at start (and learns a display's name)."""
    who = signed_in(request)
    display = None
    if who.display_id is not None:
        display = {"id": who.display_id, "name": who.username.removeprefix(USERNAME_PREFIX)}
    return web.json_response({"username": who.username, "role": who.role, "display": display},
                             headers={"Cache-Control": "no-store"})


@routes.delete("/api/v1/session")
async def sign_out(request: web.Request) -> web.Response:
    """Revoke the caller's own token."""
    who = signed_in(request)
    token = bearer(request)
    assert token is not None  # the auth middleware resolved it
    if who.display_id is not None:
        raise BadRequest("an enrolled display does not sign out: an administrator revokes it "
                         "(POST /api/v1/displays/{id}/revocation)")
    services = request.app[SERVICES]
    await services.sessions.revoke(token)
    log.info("sign-out: user=%s", who.username)
    await services.access_log.record(
        AccessEvent(AccessAction.SIGN_OUT, actor=who.username, role=who.role, client=request.remote)
    )
    return web.Response(status=204)
