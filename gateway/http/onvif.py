"""ONVIF discovery over HTTP (admin): `GET /api/v1/onvif/discover`, and `POST` when credentials are needed.

GET probes without credentials (devices then list their probe scopes and say that device
information needs credentials); POST takes them in a JSON body, so a password never sits
in a URL or an access log line.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.errors import BadRequest
from gateway.http.auth import signed_in
from gateway.http.body import read_json
from gateway.http.destinationcheck import check_host
from gateway.http.guard import authorize
from gateway.http.appkeys import SERVICES
from onvif_adapters.discovery import discover, parse_target
from policy.decision import Action

routes = web.RouteTableDef()

MAX_BODY = 16 * 1024
MAX_TIMEOUT_S = 30.0
MAX_TARGETS = 256


def _timeout(raw: Any, default: float) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError) as exc:
        raise BadRequest("timeout must be a number of seconds") from exc
    if not 0 < value <= MAX_TIMEOUT_S:
        raise BadRequest(f"timeout must be more than 0 and at most {MAX_TIMEOUT_S:g} seconds")
    return value


def _targets(raw: list[Any]) -> list[tuple[str, int]]:
    if len(raw) > MAX_TARGETS:
        raise BadRequest(f"at most {MAX_TARGETS} targets")
    out = []
    for item in raw:
        if not isinstance(item, str):
            raise BadRequest("every target must be a string host[:port]")
        try:
            out.append(parse_target(item.strip()))
        except ValueError as exc:
            raise BadRequest(f"target {item!r} is not an IPv4 host[:port]") from exc
    return out


async def _run(
    request: web.Request, listen_s: float, targets: list[tuple[str, int]], user: str | None, password: str | None
) -> web.Response:
    who = signed_in(request)
    for host, _port in targets:
        await check_host(request, who, host, "discovery target")
    settings = request.app[SERVICES].settings.onvif
    records = await discover(listen_s, targets, user, password, settings.discovery_interface)
    return web.json_response({"timeout_s": listen_s, "devices": [r.as_json() for r in records]})


@routes.get("/api/v1/onvif/discover")
async def discover_get(request: web.Request) -> web.Response:
    """WS-Discovery probe (multicast, or ?target=host[:port] directly), without credentials."""
    await authorize(request, Action.ADMINISTER)
    settings = request.app[SERVICES].settings.onvif
    timeout = _timeout(request.query.get("timeout"), settings.discovery_timeout_s)
    return await _run(request, timeout, _targets(request.query.getall("target", [])), None, None)


@routes.post("/api/v1/onvif/discover")
async def discover_post(request: web.Request) -> web.Response:
    """As GET, with {timeout, targets, username, password} in a JSON body."""
    await authorize(request, Action.ADMINISTER)
    body = await read_json(request, MAX_BODY)
    unknown = sorted(set(body) - {"timeout", "targets", "username", "password"})
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(unknown)}")
    settings = request.app[SERVICES].settings.onvif
    timeout = _timeout(body.get("timeout"), settings.discovery_timeout_s)
    targets = body.get("targets", [])
    if not isinstance(targets, list):
        raise BadRequest("targets must be a list of host[:port]")
    user, password = body.get("username"), body.get("password")
    if not (user is None or isinstance(user, str)) or not (password is None or isinstance(password, str)):
        raise BadRequest("username and password must be strings")
    return await _run(request, timeout, _targets(targets), user or None, password or None)
