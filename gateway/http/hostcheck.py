"""DNS rebinding protection: the gateway answers only for host names it knows.

A web page from any site can make its visitor's browser resolve that site's name to the gateway's
address (DNS rebinding) and then talk to the gateway as a same-origin page, with the site's name in
the Host header. A request whose Host is a name the gateway was not told it has is refused (421
Misdirected Request, problem type `host-not-allowed`) before any route or sign-in sees it.

Allowed always: IP literals (a rebinding attack needs a name), `localhost` and `*.localhost`, this
machine's host name, and the hosts of `server.public_url` and `cluster.advertise_url`. Besides those,
`server.allowed_hosts` lists names (`cctv.example`), suffixes (`.city.example`: the name and every
name under it), or `*` (no check, for a deployment whose proxy checks Host itself).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from core.errors import PROBLEM_TYPE
from gateway.http.appkeys import SERVICES
from gateway.http.problems import problem

HOST_NOT_ALLOWED = PROBLEM_TYPE + "host-not-allowed"


def host_name(header: str) -> str:
    """The name of a Host header value, without its port, in lower case, without a final dot
    (`[::1]:8080` -> `::1`, `CCTV.example.:443` -> `cctv.example`)."""
    value = header.strip()
    if value.startswith("["):
        return value[1:].split("]", 1)[0].lower()
    name, colon, port = value.rpartition(":")
    if colon and port.isdigit() and ":" not in name:
        value = name
    return value.rstrip(".").lower()


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class AllowedHosts:
    """The host names this gateway answers for (pure: no I/O once built)."""

    def __init__(self, listed: Iterable[str], urls: Iterable[str | None] = (),
                 machine: Iterable[str] = ()) -> None:
        entries = [entry.strip().rstrip(".").lower() for entry in listed]
        self.everyone = "*" in entries
        self.suffixes = tuple(entry for entry in entries if entry.startswith("."))
        names = {entry for entry in entries if entry and entry != "*" and not entry.startswith(".")}
        names |= {host_name(urlsplit(url).netloc) for url in urls if url}
        names |= {name.rstrip(".").lower() for name in machine if name}
        self.names = frozenset(names)

    @classmethod
    def of_this_machine(cls, listed: Iterable[str], urls: Iterable[str | None]) -> AllowedHosts:
        """With this machine's host name and fully qualified name."""
        return cls(listed, urls, (socket.gethostname(), socket.getfqdn()))

    def allows(self, header: str | None) -> bool:
        """Whether a request with this Host header is answered (no header: HTTP/1.0, nothing to rebind)."""
        if self.everyone or header is None:
            return True
        name = host_name(header)
        if not name:
            return False
        if _is_ip(name) or name == "localhost" or name.endswith(".localhost") or name in self.names:
            return True
        return any(name.endswith(suffix) or name == suffix[1:] for suffix in self.suffixes)


def host_check_middleware(allowed: AllowedHosts) -> Middleware:
    """Refuse a request for a host name the gateway does not answer for, logged at most once a minute
    per name (gateway/refusallog.py): a rebinding page can repeat it at will."""

    @web.middleware
    async def check_host(request: web.Request, handler: Handler) -> web.StreamResponse:
        header = request.headers.get("Host")
        if allowed.allows(header):
            return await handler(request)
        name = host_name(header or "")[:253]
        request.app[SERVICES].refusals.host_refused(name, request.remote or "-")
        return problem(421, "Misdirected request",
                       f"this gateway does not answer for the host name {name!r}; if it is the gateway's, "
                       "add it to server.allowed_hosts", HOST_NOT_ALLOWED, instance=request.path)

    return check_host
