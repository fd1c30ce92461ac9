"""Trickle ICE for WHEP (RFC 8840 SDP fragments sent by `PATCH`, RFC 9725 section 4.3): the
viewer's candidates that came after its offer, added to the session's peer.

A fragment is session-level attributes (a=ice-ufrag, a=ice-pwd, a=ice-options, a=group) and
media sections (an m= line, a=mid, a=ice-ufrag/pwd, a=candidate lines, a=end-of-candidates).
A new ufrag/pwd pair asks for an ICE restart, which aiortc cannot do (Unprocessable, 422).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiortc import RTCIceCandidate, RTCPeerConnection
from aiortc.sdp import SessionDescription, candidate_from_sdp

from core.errors import BadRequest, Unprocessable

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/trickle-ice-sdpfrag"
# A browser trickles a handful of candidates (one per interface and server); this many per
# session is far beyond that and bounds the connectivity checks a stranger could ask for.
MAX_CANDIDATES = 64
CANDIDATE_TYPES = ("host", "srflx", "prflx", "relay")


@dataclass(frozen=True)
class Trickled:
    """One trickled candidate and the media section it belongs to."""

    mid: str | None
    index: int  # its media section's position in the fragment
    candidate: RTCIceCandidate


@dataclass(frozen=True)
class Fragment:
    """A parsed trickle-ice-sdpfrag body."""

    ufrag: str | None
    pwd: str | None
    candidates: tuple[Trickled, ...]
    end: bool


def parse_fragment(text: str) -> Fragment:
    """Parse a fragment; BadRequest for anything malformed."""
    ufrags: set[str] = set()
    pwds: set[str] = set()
    candidates: list[Trickled] = []
    end = False
    index = -1  # before the first m= line: session level
    mid: str | None = None
    pending: list[str] = []  # candidate values of the current section, until its mid is known

    def close_section() -> None:
        for value in pending:
            candidates.append(Trickled(mid, max(index, 0), _candidate(value)))
        pending.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if len(line) < 2 or line[1] != "=":
            raise BadRequest(f"not an SDP line: {line[:60]!r}")
        kind, value = line[0], line[2:]
        if kind == "m":
            close_section()
            index += 1
            mid = None
            continue
        if kind != "a":
            continue  # v=, o=, c=...: nothing a fragment needs
        name, _, attr = value.partition(":")
        if name == "ice-ufrag":
            ufrags.add(attr)
        elif name == "ice-pwd":
            pwds.add(attr)
        elif name == "mid" and index >= 0:
            mid = attr
        elif name == "candidate":
            pending.append(attr)
        elif name == "end-of-candidates":
            end = True
    close_section()
    if len(ufrags) > 1 or len(pwds) > 1:
        raise BadRequest("the fragment names more than one ICE ufrag or password")
    if len(candidates) > MAX_CANDIDATES:
        raise BadRequest(f"at most {MAX_CANDIDATES} candidates per fragment")
    return Fragment(next(iter(ufrags), None), next(iter(pwds), None), tuple(candidates), end)


def _candidate(value: str) -> RTCIceCandidate:
    """An a=candidate value (RFC 8839 section 5.1), checked before aiortc sees it."""
    bits = value.split()
    try:
        if len(bits) < 8 or bits[6] != "typ" or bits[7] not in CANDIDATE_TYPES:
            raise ValueError("fields")
        if not 1 <= int(bits[1]) <= 256 or not 0 <= int(bits[3]) < 2**32 or not 0 <= int(bits[5]) <= 65535:
            raise ValueError("numbers")
        if bits[2].lower() not in ("udp", "tcp"):
            raise ValueError("transport")
        return candidate_from_sdp(value)
    except (ValueError, AssertionError):
        raise BadRequest(f"not an ICE candidate: {value[:80]!r}") from None


async def add_candidates(pc: RTCPeerConnection, fragment: Fragment) -> int:
    """Add the fragment's candidates (and its end-of-candidates) to `pc`; returns how many were
    added. Unprocessable for an ICE restart, BadRequest for a media section the offer lacks."""
    remote = SessionDescription.parse(str(pc.remoteDescription.sdp))
    mids = [m.rtp.muxId for m in remote.media]
    ufrags = {m.ice.usernameFragment for m in remote.media if m.ice is not None}
    pwds = {m.ice.password for m in remote.media if m.ice is not None}
    if (fragment.ufrag is not None and fragment.ufrag not in ufrags) or (
        fragment.pwd is not None and fragment.pwd not in pwds
    ):
        raise Unprocessable("ICE restarts are not supported: send a new offer (POST) instead")
    # Candidates of a bundled section go to the transport the bundle shares: its first mid's.
    bundle_of: dict[str, str] = {}
    for group in remote.group:
        if group.semantic == "BUNDLE" and group.items:
            bundle_of.update({str(item): str(group.items[0]) for item in group.items})
    for trickled in fragment.candidates:
        mid = trickled.mid if trickled.mid is not None else (
            mids[trickled.index] if trickled.index < len(mids) else None)
        if mid not in mids:
            raise BadRequest(f"the offer has no media section {mid!r}")
        target = bundle_of.get(str(mid), mid)
        candidate = trickled.candidate
        candidate.sdpMid, candidate.sdpMLineIndex = target, mids.index(target)
        await pc.addIceCandidate(candidate)
    if fragment.end:
        await pc.addIceCandidate(None)  # end-of-candidates
    return len(fragment.candidates)
