"""The destinations a request asks the gateway to connect to, checked before anything is stored or
sent (core/destinations.py says what is allowed): a camera's source and sub-stream added or changed
through the API, ONVIF discovery targets. A refusal is 422 `destination-refused` and a
`config_changed` entry with outcome `deny`, so an attempt to point the gateway at a metadata service
is on record."""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlsplit

from aiohttp import web

from core.config import CameraConfig
from core.destinations import IpAddress, check_addresses, literal_address
from core.errors import DestinationRefused
from core.schemes import DEMO, scheme_of
from gateway.http.appkeys import SERVICES
from policy.audit.entries import AccessAction, AccessEvent
from policy.identity.users import Principal


async def _addresses(host: str, timeout_s: float) -> list[IpAddress]:
    """What `host` resolves to now (getaddrinfo, as libav and aiohttp resolve it); [] when it does not
    resolve (a camera may be offline or its name not in DNS yet: nothing is sent there now, and the
    link-local and metadata checks on the name still apply)."""
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout_s):
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError):
        return []
    found: list[IpAddress] = []
    for info in infos:
        address = literal_address(str(info[4][0]))
        if address is not None:
            found.append(address)
    return found


async def check_host(request: web.Request, who: Principal, host: str, what: str, camera: str | None = None) -> None:
    """422 (logged) when the gateway may not connect to `host` for `what`."""
    services = request.app[SERVICES]
    cfg = services.settings.onboarding
    try:
        check_addresses(host, await _addresses(host, cfg.resolve_timeout_s), cfg.networks())
    except ValueError as exc:
        reason = f"{what}: {exc}"
        await services.access_log.record(AccessEvent(
            AccessAction.CONFIG_CHANGED, actor=who.username, role=who.role, client=request.remote, camera=camera,
            outcome="deny", reason=f"destination refused: {reason}"[:500],
            details={"route": request.path, "host": host[:255]}))
        raise DestinationRefused(reason) from None


async def check_camera(request: web.Request, who: Principal, cfg: CameraConfig) -> None:
    """A camera's source and sub-stream may be connected to (demo:// names no host)."""
    for key, url in (("source", cfg.source), ("substream", cfg.substream)):
        if url is None or scheme_of(url) == DEMO:
            continue
        host = urlsplit(url).hostname or ""
        await check_host(request, who, host, f"{key} host", cfg.id)
