"""How WHEP viewers reach the gateway (the `webrtc:` section): the STUN/TURN servers the
gateway's own peers use and hand to viewers, the local addresses offered, and the public
addresses of a NAT 1:1 offered beside them.

aiortc hands its peers to aioice, which gathers a host candidate on every local address but
127.0.0.1 and has no option to choose them, takes one STUN and one TURN server (the first of
each kind), and offers UDP only (no ICE-TCP, no fixed port or port range): the README's "Walls in
other networks" says what that means for a deployment.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from dataclasses import dataclass
from typing import Any

from aioice import Candidate
from aioice.candidate import candidate_foundation, candidate_priority
from aioice.ice import Connection, get_host_addresses
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection
from aiortc.rtcicetransport import RTCIceGatherer

from core.webrtcconfig import IceServer, WebRtcConfig

log = logging.getLogger(__name__)

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Below a real host candidate's (65535): a viewer that reaches both tries the local one first.
ADDED_HOST_PREFERENCE = 65534


def is_turn(url: str) -> bool:
    """Whether an ICE server URL is a TURN (relay) server, which needs credentials."""
    return url.startswith(("turn:", "turns:"))


def _quoted(value: str) -> str:
    """A Link header parameter value (RFC 8288 quoted-string)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class ServerUrl:
    """One URL of an ICE server with what a client needs to use it."""

    url: str
    username: str | None
    credential: str | None

    def link(self) -> str:
        """The WHEP `Link` header value (draft-ietf-wish-whep, as MediaMTX writes it)."""
        value = f'<{self.url}>; rel="ice-server"'
        if self.username is not None and self.credential is not None:
            value += (f"; username={_quoted(self.username)}; credential={_quoted(self.credential)}"
                      '; credential-type="password"')
        return value


class IceNetwork:
    """The `webrtc:` networking settings applied to the gateway's peers and told to viewers."""

    def __init__(self, config: WebRtcConfig) -> None:
        self._servers: list[IceServer] = list(config.ice_servers)
        self._interfaces = {ipaddress.ip_address(a) for a in config.interfaces}
        self._additional = [ipaddress.ip_address(a) for a in config.additional_hosts]
        self._warned_interfaces = False

    # -- the servers ------------------------------------------------------------------------

    def configuration(self) -> RTCConfiguration:
        """The configuration of one of the gateway's peers. Never aiortc's default (a public
        Google STUN server): a gateway on a closed network could not reach it and would wait."""
        servers = [RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
                   for s in self._servers]
        return RTCConfiguration(iceServers=servers)

    def urls(self, credentials: bool) -> list[ServerUrl]:
        """Every server URL a viewer may use; TURN URLs only with `credentials` (they are secrets,
        for callers who may view), and then with them."""
        return [ServerUrl(url, s.username if credentials else None, s.credential if credentials else None)
                for s in self._servers for url in s.urls if credentials or not is_turn(url)]

    def link_headers(self, credentials: bool) -> list[str]:
        """`Link: <url>; rel="ice-server"` values, one per URL."""
        return [u.link() for u in self.urls(credentials)]

    def client_servers(self) -> list[dict[str, Any]]:
        """RTCPeerConnection's `iceServers` for a page (with TURN credentials: callers who may view)."""
        out: list[dict[str, Any]] = []
        for server in self._servers:
            entry: dict[str, Any] = {"urls": list(server.urls)}
            if server.username is not None:
                entry["username"] = server.username
            if server.credential is not None:
                entry["credential"] = server.credential
            out.append(entry)
        return out

    # -- the candidates ---------------------------------------------------------------------

    async def gather(self, pc: RTCPeerConnection) -> None:
        """Gather the local candidates of `pc` (which setLocalDescription would do) and keep
        only those of `webrtc.interfaces`. Call it after createAnswer and before
        setLocalDescription, so no check runs from an address that is not offered."""
        gatherers = _gatherers(pc)
        await asyncio.gather(*(g.gather() for g in gatherers))
        if not self._interfaces:
            return
        for gatherer in gatherers:
            await self._keep_interfaces(gatherer._connection)

    async def _keep_interfaces(self, connection: Connection) -> None:
        # aioice binds a socket on every local address and has no setting to choose them: close
        # the sockets of the others and forget their candidates before any check is sent.
        # (Private attributes of aioice 0.13; tests/test_whep_ice.py fails if they change.)
        def kept(candidate: Candidate) -> bool:
            if candidate.type == "host":
                return ipaddress.ip_address(candidate.host) in self._interfaces
            if candidate.type == "srflx":
                return ipaddress.ip_address(candidate.related_address or "0.0.0.0") in self._interfaces
            return True  # relayed: reached through the TURN server, whatever the local address

        dropped = [p for p in connection._protocols if not kept(p.local_candidate)]
        connection._protocols = [p for p in connection._protocols if kept(p.local_candidate)]
        connection._local_candidates = [c for c in connection._local_candidates if kept(c)]
        for protocol in dropped:
            await protocol.close()
        if not any(c.type == "host" for c in connection._local_candidates) and not self._warned_interfaces:
            self._warned_interfaces = True
            log.warning("webrtc.interfaces %s matches none of this machine's addresses %s: no host "
                        "candidate is offered", sorted(map(str, self._interfaces)),
                        get_host_addresses(use_ipv4=True, use_ipv6=True))

    def answer(self, pc: RTCPeerConnection) -> str:
        """The SDP answer to send: `pc`'s local description, plus a host candidate for every
        `webrtc.additional_hosts` address on the port of each local host candidate of its family."""
        sdp = str(pc.localDescription.sdp)
        if not self._additional:
            return sdp
        return with_additional_hosts(sdp, self._additional)


def _gatherers(pc: RTCPeerConnection) -> list[RTCIceGatherer]:
    """The distinct ICE gatherers of `pc` (bundled media share one)."""
    seen: dict[int, RTCIceGatherer] = {}
    transports = [t.receiver.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        transports.append(pc.sctp.transport)
    for dtls in transports:
        gatherer = dtls.transport.iceGatherer
        seen.setdefault(id(gatherer), gatherer)
    return list(seen.values())


def with_additional_hosts(sdp: str, hosts: list[IpAddress]) -> str:
    """`sdp` with, in each media section, a host candidate per additional address and local UDP
    host candidate of the same IP family (same port: a NAT 1:1 forwards ports unchanged)."""
    out: list[str] = []
    section: list[str] = []

    def flush() -> None:
        added: list[str] = []
        for line in section:
            if not line.startswith("a=candidate:"):
                continue
            bits = line[len("a=candidate:"):].split()
            if len(bits) < 8 or bits[2].lower() != "udp" or bits[7] != "host":
                continue
            try:
                local = ipaddress.ip_address(bits[4])
            except ValueError:  # an mDNS name: not ours to map
                continue
            for host in hosts:
                if host.version == local.version:
                    candidate = Candidate(
                        foundation=candidate_foundation("host", "udp", str(host)), component=int(bits[1]),
                        transport="udp", priority=candidate_priority(int(bits[1]), "host", ADDED_HOST_PREFERENCE),
                        host=str(host), port=int(bits[5]), type="host",
                    )
                    added.append(f"a=candidate:{candidate.to_sdp()}")
        # After the section's last candidate (before a=end-of-candidates, which ends the list).
        last = max((i for i, line in enumerate(section) if line.startswith("a=candidate:")), default=None)
        if last is None or not added:
            out.extend(section)
        else:
            out.extend([*section[: last + 1], *dict.fromkeys(added), *section[last + 1:]])
        section.clear()

    for line in sdp.splitlines():
        if line.startswith("m="):
            flush()
        section.append(line)
    flush()
    return "\r\n".join(out) + "\r\n"
