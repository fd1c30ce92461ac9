"""Where a camera's connection really goes, checked on every connect (DNS rebinding).

The API checks a camera's host when the camera is added or changed (gateway/http/destinationcheck.py),
but a host name is resolved again at each connect, and a name's owner can make it resolve to a LAN
camera at the check and to a cloud metadata service (169.254.169.254) an hour later: DNS rebinding.
So for a camera added through the API, before each open the name is resolved here, every address it
resolves to is checked as the API checked it (core/destinations.py: never link-local, unspecified,
multicast, broadcast, reserved or a metadata service's name, nor outside `onboarding.allowed_networks`
when that is set), and a plain `rtsp://` connection is pinned to the checked address: libav gets the
address, not the name, so it cannot resolve to anything else. (The config file's cameras are not
checked, at the API or here: the file is the administrator's own word.)

`rtsps://` keeps its name (the certificate is checked against it, `tls_verify` on by default); the
addresses it resolves to are checked all the same, so only a rebinding between this check and
libav's own lookup, to a server holding a certificate for the name, could get past.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlsplit, urlunsplit

from core.config import CameraConfig
from core.destinations import IpAddress, IpNetwork, check_addresses, literal_address
from core.errors import SourceError
from core.schemes import RTSP, RTSP_SCHEMES, scheme_of

log = logging.getLogger(__name__)

#: Resolves a host name to its addresses (getaddrinfo, as libav does); tests put a DNS of their own here.
Resolve = Callable[[str], Awaitable[list[IpAddress]]]


async def resolve_host(host: str) -> list[IpAddress]:
    """What `host` resolves to now, for a TCP connection."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [address for info in infos if (address := literal_address(str(info[4][0]))) is not None]


class DestinationGuard:
    """Checks a camera's RTSP source's host on every connect and pins plain RTSP to the checked address."""

    def __init__(self, networks: Sequence[IpNetwork] = (), timeout_s: float = 5.0,
                 resolve: Resolve = resolve_host) -> None:
        #: `onboarding.allowed_networks` (empty: any network).
        self.networks = list(networks)
        self.timeout_s = timeout_s
        self._resolve = resolve

    async def pin(self, cfg: CameraConfig) -> CameraConfig:
        """`cfg` to open now: its source checked, and for rtsp:// with the host replaced by the address
        that was checked. Raises SourceError (retried with the camera's backoff) when the host does
        not resolve or resolves to an address the gateway may not connect to."""
        url = cfg.source
        if scheme_of(url) not in RTSP_SCHEMES:
            return cfg  # demo:// names no host; onvif:// is resolved to an rtsp:// URL before this
        parts = urlsplit(url)
        host = parts.hostname or ""
        literal = literal_address(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                async with asyncio.timeout(self.timeout_s):
                    addresses = await self._resolve(host)
            except (OSError, TimeoutError, UnicodeError) as exc:
                raise SourceError(f"{host}: the name does not resolve ({type(exc).__name__}: {exc})") from None
            if not addresses:
                raise SourceError(f"{host}: the name resolves to no address")
        try:
            check_addresses(host, addresses, self.networks)
        except ValueError as exc:
            log.warning("camera %s: connection refused by the destination check: %s", cfg.id, exc,
                        extra={"camera": cfg.id})
            raise SourceError(f"destination refused: {exc}") from None
        if literal is not None or parts.scheme.lower() != RTSP:
            return cfg
        return cfg.model_copy(update={"source": urlunsplit(parts._replace(netloc=_netloc(parts.netloc, addresses[0])))})


def _netloc(netloc: str, address: IpAddress) -> str:
    """`netloc` with its host replaced by `address` (user, password and port kept as written)."""
    userinfo, at, hostport = netloc.rpartition("@")
    port = ""
    if hostport.startswith("["):
        rest = hostport.split("]", 1)[1]
        port = rest if rest.startswith(":") else ""
    elif ":" in hostport:
        port = ":" + hostport.rsplit(":", 1)[1]
    host = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
    return f"{userinfo}{at}{host}{port}"
