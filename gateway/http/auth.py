"""Bearer-token authentication for routes. Authorization (what a signed-in user may do) is the
policy's: routes ask it through gateway/http/guard.py."""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Handler

from core.errors import Unauthorized, UnknownBearer
from gateway.http.appkeys import SERVICES
from gateway.http.onvifservice import is_onvif_soap
from policy.audit.entries import AccessAction, AccessEvent
from policy.dispositions import tokens
from policy.dispositions.tokens import TokenRejected
from policy.identity import displays
from policy.identity.links import LINK_PARAM
from policy.identity.sessions import TOKEN_PREFIX
from policy.identity.users import Principal

log = logging.getLogger(__name__)

PRINCIPAL = web.RequestKey("principal", Principal)
# A disposition token (a JWT, not a session) presented as the bearer on a route that takes one.
DISPOSITION_TOKEN = web.RequestKey("disposition_token", str)

EXPORTS_PATH = "/api/v1/exports"
WEBRTC_CONFIG = "/api/v1/webrtc/config"
# WHEP sessions (PATCH: trickle ICE): the unguessable session URL is the authority, as in MediaMTX,
# so third-party WHEP players that trickle without a bearer connect (gateway/http/whep.py).
WHEP_SESSIONS = "/whep/sessions/"
# Routes anyone may call (README, "HTTP API"). Static files live under /static/.
OPEN_ROUTES = frozenset(
    {("GET", "/livez"), ("GET", "/readyz"), ("GET", "/"), ("POST", "/api/v1/session"),
     ("GET", "/api/v1/openapi.json"), ("GET", "/api/v1/access-log/public-key")}
)
# Emergency triggers: a device (a panic button's gateway) presents the playbook's trigger key, not
# a session, so the route takes no bearer; the trigger gate checks the key and logs every refusal.
TRIGGER_ROUTE_PREFIX = "/api/v1/triggers/"
# The routes a signed link opens (`?link=` instead of a bearer; gateway/http/links.py verifies it).
GET_ROUTE = "/get"
EXPORT_DOWNLOAD = re.compile(r"/api/v1/exports/([A-Za-z0-9_-]{1,64})/download")
# Routes open to the admin addresses; everyone else needs an admin token.
ADMIN_ADDRESS_ROUTES = frozenset({("GET", "/health"), ("GET", "/metrics")})


def is_trigger(request: web.Request) -> bool:
    """A trigger call (POST /api/v1/triggers/{playbook_id}, one path segment): authenticated by the
    playbook's key in the route, never by a session. Only POST with exactly one segment after the
    prefix, so nothing added later under the prefix becomes open by accident."""
    rest = request.path.removeprefix(TRIGGER_ROUTE_PREFIX)
    return request.method == "POST" and rest != request.path and rest != "" and "/" not in rest


def takes_disposition_token(request: web.Request) -> bool:
    """Routes where an external viewer may present a disposition token instead of a session:
    WHEP playback and the MediaMTX-shaped recording list, where the route redeems the token
    itself (DispositionService.redeem checks its scope and logs the outcome); /get, which
    refuses it with the policy's reason (a token allows replay, not export); and DELETE of a
    WHEP session, which a token ends only when that token opened it; POST /api/v1/links, where
    a token's holder links the download of an export job made with that token; and export jobs,
    where a token with copies left creates, reads, cancels and downloads its own
    (gateway/http/exports.py); and the pages' ICE servers (GET /api/v1/webrtc/config), which
    the external viewer needs to reach the gateway from another network."""
    return (
        (request.method == "POST" and request.path.startswith("/whep/playback/"))
        or (request.method == "GET" and request.path == WEBRTC_CONFIG)
        or request.path == EXPORTS_PATH or request.path.startswith(EXPORTS_PATH + "/")
        or (request.method == "GET" and request.path in ("/list", "/get"))
        or (request.method == "DELETE" and request.path.startswith("/whep/sessions/"))
        or (request.method == "POST" and request.path == "/api/v1/links")
    )


def is_trickle(request: web.Request) -> bool:
    """A PATCH of a WHEP session: no bearer is needed or looked at."""
    return request.method == "PATCH" and request.path.startswith(WHEP_SESSIONS)


def takes_link(request: web.Request) -> bool:
    """A GET of a route a signed link opens, carrying one: the route verifies the link (and acts as
    the user who asked for it), so no bearer is needed; players and browser tabs send none."""
    return (request.method == "GET" and LINK_PARAM in request.query
            and (request.path == GET_ROUTE or EXPORT_DOWNLOAD.fullmatch(request.path) is not None))


def is_own_token(token: str) -> bool:
    """A session's or an enrolled display's token (by prefix), as opposed to a disposition token."""
    return token.startswith((TOKEN_PREFIX, displays.TOKEN_PREFIX))


def bearer(request: web.Request) -> str | None:
    """The bearer token of a request, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def from_admin_address(request: web.Request) -> bool:
    """True when the peer address is one of server.admin_hosts."""
    remote = request.remote or ""
    allowed = request.app[SERVICES].settings.server.admin_hosts
    try:
        addr = ipaddress.ip_address(remote)
    except ValueError:
        return False
    for entry in allowed:
        try:
            if addr in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolve the bearer token; refuse with 401 where a route needs one."""
    key = (request.method, request.path)
    if (request.method == "OPTIONS" or key in OPEN_ROUTES or request.path.startswith("/static/")
            or is_trigger(request) or is_trickle(request) or is_onvif_soap(request)):
        return await handler(request)
    token = bearer(request)
    if token is None and takes_link(request):
        return await handler(request)
    services = request.app[SERVICES]
    if token is not None and not is_own_token(token) and takes_disposition_token(request):
        try:
            tokens.verify(token, services.dispositions.public_key)
        except TokenRejected as exc:
            # Not signed with our key (or not a token at all): nothing to redeem and nobody to name,
            # so a rate-limited text line rather than an access-log entry per try.
            services.refusals.bearer_refused(request.remote or "?", exc.reason.value)
            raise UnknownBearer(f"the bearer token is not one this gateway issued: {exc.detail}") from exc
        # Ours: the route redeems it, and the redemption logs its outcome (refusals included).
        request[DISPOSITION_TOKEN] = token
        return await handler(request)
    if token is not None:
        if token.startswith(displays.TOKEN_PREFIX):
            who = await _display(request, token)
        else:
            who = await services.sessions.resolve(token)
        if who is not None:
            request[PRINCIPAL] = who
            return await handler(request)
        services.refusals.bearer_refused(request.remote or "?", "unknown, expired or revoked")
        raise UnknownBearer("the bearer token is unknown, expired or revoked")
    if key in ADMIN_ADDRESS_ROUTES and from_admin_address(request):
        return await handler(request)
    raise Unauthorized("this route needs a bearer token (POST /api/v1/session)")


async def _display(request: web.Request, token: str) -> Principal | None:
    """An enrolled display's principal; its first use since start or after a minute without one is
    logged with the address it came from (a wall polls every few seconds: not every request)."""
    services = request.app[SERVICES]
    use = await services.displays.use(token)
    if use is None:
        return None
    who = use.display.principal
    if use.first:
        await services.access_log.record(
            AccessEvent(AccessAction.DISPLAY_USED, actor=who.username, role=who.role, client=request.remote,
                        reason="first use since start" if use.idle_s is None else "first use after a pause",
                        details={"display_id": use.display.id, "display": use.display.name,
                                 "idle_s": None if use.idle_s is None else round(use.idle_s, 1),
                                 "route": request.path})
        )
    return who


def principal(request: web.Request) -> Principal | None:
    """The signed-in user, or None for admin-address access."""
    return request.get(PRINCIPAL)


def disposition_token(request: web.Request) -> str | None:
    """The disposition token the caller presented, if it presented one instead of a session."""
    return request.get(DISPOSITION_TOKEN)


SIGNED_OUT = "the viewer's sign-in ended (signed out, expired, or the user was disabled)"
DISPLAY_REVOKED = "the display was revoked"


def sign_in_watch(request: web.Request) -> Callable[[], Awaitable[str | None]] | None:
    """For a session that outlives its request (a WHEP viewer): a check that says why it must
    end once the caller's sign-in (or its display's enrolment) no longer stands, else None.
    None for callers without one."""
    token = bearer(request)
    services = request.app[SERVICES]
    if token is None:
        return None
    if token.startswith(displays.TOKEN_PREFIX):
        resolve, ended = services.displays.resolve, DISPLAY_REVOKED
    elif token.startswith(TOKEN_PREFIX):
        resolve, ended = services.sessions.resolve, SIGNED_OUT
    else:
        return None

    async def still_signed_in() -> str | None:
        return None if await resolve(token) is not None else ended

    return still_signed_in


def signed_in(request: web.Request) -> Principal:
    """The signed-in user (any role); 401 without one. Authentication only: what the user may
    do is decided by the policy (guard.authorize)."""
    who = request.get(PRINCIPAL)
    if who is None:
        raise Unauthorized("this route needs a bearer token")
    return who
