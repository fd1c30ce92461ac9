"""Which of a viewer's ICE candidates the gateway's peer may check: those in
`webrtc.allowed_networks` (all when it is empty), at most `webrtc.max_remote_candidates` a session.

aioice sends a connectivity check to every remote candidate it is given, so an offer listing
hundreds of addresses makes the gateway probe them all (issue 20: 600 private addresses). The
candidates are screened before aiortc sees them, in the offer's a=candidate lines and in trickled
PATCH fragments. A candidate named by an mDNS name (.local, what browsers offer instead of their
host address) has no address to check before aioice resolves it: it is dropped when
`allowed_networks` is set. The viewer's own checks still reach the gateway, and aioice pairs
with the address they come from (a peer-reflexive candidate), which no offer can choose. For
that, a session that lost a candidate never tells aioice that the candidates ended
(a=end-of-candidates): with none left, aioice would give up at once instead of waiting for those
checks (the session's connect timeout still ends a viewer that never comes).
"""

from __future__ import annotations

import ipaddress
import logging
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

from core.webrtcconfig import WebRtcConfig

log = logging.getLogger(__name__)

T = TypeVar("T")
# Addresses named in the log line of a session's drops (the count covers the rest).
LOGGED_ADDRESSES = 8


class RemoteCandidates:
    """The `webrtc:` rules for remote candidates; one CandidateBudget per session applies them."""

    def __init__(self, config: WebRtcConfig) -> None:
        self._networks = [ipaddress.ip_network(n, strict=False) for n in config.allowed_networks]
        self.limit = config.max_remote_candidates

    def refusal(self, address: str) -> str | None:
        """Why a candidate at `address` is not checked ("network", "name"), or None if it may be."""
        if not self._networks:
            return None
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return "name"
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return None if any(ip in network for network in self._networks) else "network"

    def budget(self, camera: str, session: str) -> CandidateBudget:
        """A new session's screen."""
        return CandidateBudget(self, camera, session)


class CandidateBudget:
    """One session's remote candidates: what was kept so far, and whether its drops were logged."""

    def __init__(self, rules: RemoteCandidates, camera: str, session: str) -> None:
        self._rules = rules
        self._camera = camera
        self._session = session
        self.kept = 0
        #: Candidates dropped so far: while there are any, the viewer's end-of-candidates is not passed on.
        self.dropped = 0
        self._logged = False

    def screen_offer(self, sdp: str) -> str:
        """`sdp` without the a=candidate lines the rules drop (nor, if it lost any, a=end-of-candidates)."""
        lines = sdp.splitlines()
        candidates = [i for i, line in enumerate(lines) if line.startswith("a=candidate:")]

        def address(i: int) -> str:
            return _address(lines[i])

        kept: list[int] = self.screen(candidates, address)
        dropped = set(candidates) - set(kept)
        if not dropped:
            return sdp
        dropped.update(i for i, line in enumerate(lines) if line.startswith("a=end-of-candidates"))
        return "".join(line + "\r\n" for i, line in enumerate(lines) if i not in dropped)

    def screen(self, items: list[T], address_of: Callable[[T], str]) -> list[T]:
        """The items (candidates) the rules keep, in order; counts them against the session's limit
        and logs the session's first drops."""
        kept: list[T] = []
        reasons: Counter[str] = Counter()
        addresses: list[str] = []
        for item in items:
            address = address_of(item)
            reason = self._rules.refusal(address)
            if reason is None and self.kept >= self._rules.limit:
                reason = "limit"
            if reason is None:
                kept.append(item)
                self.kept += 1
            else:
                reasons[reason] += 1
                self.dropped += 1
                addresses.append(address)
        if reasons and not self._logged:
            self._logged = True
            shown = ", ".join(addresses[:LOGGED_ADDRESSES]) + (", ..." if len(addresses) > LOGGED_ADDRESSES else "")
            log.warning(
                "camera %s: session %s: dropped %d remote ICE candidate(s) (%d outside webrtc.allowed_networks, "
                "%d named by mDNS, %d beyond webrtc.max_remote_candidates=%d): %s; later drops are not logged",
                self._camera, self._session[:8], sum(reasons.values()), reasons["network"], reasons["name"],
                reasons["limit"], self._rules.limit, shown,
                extra={"camera": self._camera, "session": self._session[:8]},
            )
        return kept


def _address(line: str) -> str:
    """The connection address of an a=candidate line (RFC 8839 section 5.1: the fifth field)."""
    bits = line[len("a=candidate:"):].split()
    return bits[4] if len(bits) > 4 else ""
