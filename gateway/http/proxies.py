"""The client behind a reverse proxy: `request.remote` is the address the trusted proxy saw, never
one a client wrote itself.

X-Forwarded-For is read only when the TCP peer is one of `server.trusted_proxies`; from any other
peer the header is ignored and the peer is the client. The list is walked from the right (the
entry the nearest proxy appended) past every trusted address; the first untrusted one is the
client, so whatever a client put in the header before its proxy appended to it is never reached.
An unparsable entry at that point is a misconfigured proxy: 400.

Not aiohttp-remotes' XForwardedStrict: it wants exactly one header entry per configured hop and
answers 400 to a request without the header, so a direct request from the LAN (or a client-sent
X-Forwarded-For that nginx appends to) is refused; its XForwardedFiltered trusts the header
whatever the TCP peer is. Only the address is taken: scheme and host stay the connection's
(absolute URLs come from `server.public_url`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

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

    def client(self, peer: str | None, forwarded_for: list[str]) -> str | None:
        """The client's address given the TCP peer and the X-Forwarded-For header values;
        ValueError for an unparsable entry the walk reaches."""
        try:
            address = ipaddress.ip_address(peer or "")
        except ValueError:
            return peer  # a Unix socket: no address to trust
        if not self.trusts(address):
            return peer
        hops = [h.strip() for value in forwarded_for for h in value.split(",")]
        for hop in reversed(hops):
            try:
                address = ipaddress.ip_address(hop)
            except ValueError:
                raise ValueError(f"X-Forwarded-For entry {hop[:60]!r} is not an IP address") from None
            if not self.trusts(address):
                return str(address)
        # Every hop is a trusted proxy: the leftmost is as far as the chain is known.
        return str(address)


def forwarded_client_middleware(proxies: TrustedProxies) -> Middleware:
    """A middleware that gives every request its client address (`request.remote`) as above."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        forwarded_for = request.headers.getall(hdrs.X_FORWARDED_FOR, [])
        if not forwarded_for:
            return await handler(request)
        try:
            client = proxies.client(request.remote, forwarded_for)
        except ValueError as exc:
            return problem(400, "Bad Request", str(exc), instance=request.path)
        if client is not None and client != request.remote:
            request = request.clone(remote=client)
        return await handler(request)

    return middleware
