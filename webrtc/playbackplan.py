"""From an allowed playback to its PlaybackPlan: the one place a plan is put together, for a
signed-in user and for a disposition token's holder alike.

webrtc decides nothing and imports neither the decision function nor the disposition workflow; it
names what it reads of their answers as protocols, which `policy.decision.Decision` and
`policy.dispositions.redeem.Redemption` satisfy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from webrtc.playback import MAX_RATE, PlaybackPlan

#: Why the grant no longer stands (revoked, signed out), or None while it does.
Revocation = Callable[[], Awaitable[str | None]]


class Allowance(Protocol):
    """What an allow asks of a playback: a rate cap and a watermark, each if any, and whether the
    sound may be served."""

    @property
    def max_rate(self) -> float | None: ...

    @property
    def watermark(self) -> str | None: ...

    @property
    def audio(self) -> bool: ...


class TokenClaims(Protocol):
    """What a disposition token says: which one, for which request, until when."""

    @property
    def token_id(self) -> str: ...

    @property
    def request_id(self) -> str: ...

    @property
    def expires(self) -> datetime: ...


class TokenUse(Protocol):
    """A redeemed disposition token: its claims, and its SHA-256 (how its holder is recognised)."""

    @property
    def claims(self) -> TokenClaims: ...

    @property
    def token_sha256(self) -> str: ...


def playback_plan(
    camera: str,
    start: datetime,
    end: datetime,
    client: str,
    allowed: Allowance,
    *,
    viewer: str,
    role: str | None = None,
    revoked: Revocation | None = None,
    token: TokenUse | None = None,
    max_view_s: float | None = None,
) -> PlaybackPlan:
    """The plan of an allowed playback of [start, end) with the rate cap (MAX_RATE when the allow
    sets none), the watermark and the sound the allow asks for; `token` when a disposition token
    allowed it (its holder has no role), with `max_view_s` the longest its view may last."""
    max_rate = allowed.max_rate
    return PlaybackPlan(
        camera, start, end, viewer, role, client, MAX_RATE if max_rate is None else max_rate, allowed.watermark,
        token_id=token.claims.token_id if token else None, request_id=token.claims.request_id if token else None,
        token_sha256=token.token_sha256 if token else None, expires=token.claims.expires if token else None,
        revoked=revoked, audio=allowed.audio, max_view_s=max_view_s,
    )
