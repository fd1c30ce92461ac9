"""The client behind a reverse proxy: `request.remote` is the address the trusted proxy saw, never
one a client wrote itself.

X-Forwarded-For is read only when the TCP peer is one of `server.trusted_proxies`; from any other
peer the header is ignored and the peer is the client. The list is walked from the right (the
entry the nearest proxy appended) past every trusted address; the first untrusted one is the
client, so whatever a client put in the header before its proxy appended to it is never reached.
An unparsable entry at that point is a misconfigured proxy: 400.

With `server.proxy_header: forwarded` the standard `Forwarded` header (RFC 7239,
gateway/http/forwarded.py) is read instead, walked the same way over its elements' `for` nodes; the
client's element's `proto` (http or https) becomes the request's scheme. Only the configured header
is read: a proxy that sets one passes the other through as the client wrote it.

Not aiohttp-remotes' XForwardedStrict: it wants exactly one header entry per configured hop and
answers 400 to a request without the header, so a direct request from the LAN (or a client-sent
X-Forwarded-For that nginx appends to) is refused; its XForwardedFiltered trusts the header
whatever the TCP peer is. From X-Forwarded-For only the address is taken: scheme and host stay the
connection's (absolute URLs come from `server.public_url`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from gateway.http import forwarded
from gateway.http.problems import problem

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """The addresses and networks of `server.trusted_proxies`."""

    def __init__(self, entries: Iterable[str]) -> None:
        self._networks: list[IpNetwork] = [ipaddress.ip_network(e, strict=False) for e in entries]

    def __bool__(self) -> bool:
        return bool(self._networks)

    def trusts(self, address: IpAddress) -> bool:
        """Whether `address` is one of the trusted proxies."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
        return any(address in network for network in self._networks)

    def _trusted_peer(self, peer: str | None) -> bool:
        try:
            return self.trusts(ipaddress.ip_address(peer or ""))
        except ValueError:
            return False  # a Unix socket: no address to trust

    def client(self, peer: str | None, forwarded_for: list[str]) -> str | None:
        """The client's address given the TCP peer and the X-Forwarded-For header values;
        ValueError for an unparsable entry the walk reaches."""
        if not self._trusted_peer(peer):
            return peer
        hops = [h.strip() for value in forwarded_for for h in value.split(",")]

        def address(hop: str) -> IpAddress:
            try:
                return ipaddress.ip_address(hop)
            except ValueError:
                raise ValueError(f"X-Forwarded-For entry {hop[:60]!r} is not an IP address") from None

        # Parsed as the walk reaches them: what lies left of the client is never read.
        for hop in reversed(hops):
            found = address(hop)
            if not self.trusts(found):
                return str(found)
        # Every hop is a trusted proxy: the leftmost is as far as the chain is known.
        return str(found) if hops else peer

    def client_forwarded(self, peer: str | None, values: list[str]) -> tuple[str | None, str | None]:
        """The client's address and scheme (its element's `proto`, None when not given) from the
        `Forwarded` header values; ValueError for a malformed header or an element the walk
        reaches that names no address (unknown, obfuscated) or a scheme other than http(s)."""
        if not self._trusted_peer(peer):
            return peer, None
        elements = forwarded.parse(values)
        if not elements:
            return peer, None
        found: IpAddress | None = None
        index = 0
        for index in range(len(elements) - 1, -1, -1):
            found = forwarded.node_address(elements[index].node)
            if not self.trusts(found):
                break
        # Every hop is a trusted proxy: the leftmost is as far as the chain is known.
        proto = elements[index].proto
        if proto is not None and proto not in forwarded.PROTOS:
            raise ValueError(f"Forwarded: proto={proto[:20]!r} is not http or https")
        return str(found), proto


def forwarded_client_middleware(proxies: TrustedProxies, header: str = "x-forwarded-for") -> Middleware:
    """A middleware that gives every request its client address (`request.remote`) as above, from
    `header` (`x-forwarded-for` or `forwarded`)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        scheme: str | None = None
        try:
            if header == "forwarded":
                values = request.headers.getall(hdrs.FORWARDED, [])
                if not values:
                    return await handler(request)
                client, scheme = proxies.client_forwarded(request.remote, values)
            else:
                values = request.headers.getall(hdrs.X_FORWARDED_FOR, [])
                if not values:
                    return await handler(request)
                client = proxies.client(request.remote, values)
        except ValueError as exc:
            return problem(400, "Bad Request", str(exc), instance=request.path)
        # One clone with both: a clone does not keep an earlier clone's remote (aiohttp reads the peer again).
        remote = client if client is not None and client != request.remote else request.remote
        if remote != request.remote or (scheme is not None and scheme != request.scheme):
            request = request.clone(remote=remote or "", scheme=scheme or request.scheme)
        return await handler(request)

    return middleware
