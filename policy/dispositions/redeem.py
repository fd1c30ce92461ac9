"""Redeeming a disposition token: signature, server state, scope and time, then one view used.

The token is verified here and nowhere else on the way (once per request); a listing's range is
clipped to the token's window here too, so the caller gets the window that was decided on.

Split from the workflow (policy/dispositions/workflow.py), which builds one TokenRedeemer and shares
its camera groups with it, so a camera added while running is known to both.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.config import AccessConfig
from policy.dispositions import tokens
from policy.decision import Action, Context, Decision, Reason, Resource, Subject, decide
from policy.dispositions.models import Disposition
from policy.audit.entries import AccessAction, AccessEvent, AccessRecorder, Scalar
from policy.dispositions.tokens import DispositionClaims, TokenRejected

log = logging.getLogger(__name__)


# Stands in for an empty range at an edge of the token's window, so the decision refuses it.
_INSTANT = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Redemption:
    """An allowed use of a token: the claims, the window decided on, what the decision asks of the
    caller, views so far, and the token's SHA-256 (how its holder is recognised later)."""

    claims: DispositionClaims
    decision: Decision
    views_used: int
    start: datetime
    end: datetime
    token_sha256: str


def clipped(
    window: tuple[datetime, datetime], start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    """A listing's range inside the token's window: an open end is the window's, a range reaching
    outside is narrowed to the overlap (listing inside the window is harmless), and one wholly
    outside stays outside it, so that the decision refuses it."""
    lo, hi = start or window[0], end or window[1]
    if max(lo, window[0]) < min(hi, window[1]):
        return max(lo, window[0]), min(hi, window[1])
    if start is None:  # only an end, before the window: ask for just before it
        lo = hi - _INSTANT
    elif end is None:  # only a start, after the window
        hi = lo + _INSTANT
    return lo, max(hi, lo + _INSTANT)


class TokenRedeemer:
    """Checks presented tokens and counts their views; safe to use from many processes at once."""

    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        clock: Clock,
        rules: AccessConfig,
        public_key: Ed25519PublicKey,
        recorder: AccessRecorder,
        camera_groups: dict[str, frozenset[str]],
    ) -> None:
        self._db = db
        self._clock = clock
        self._rules = rules
        self._public_key = public_key
        self._recorder = recorder
        self._cameras = camera_groups  # shared with the workflow: cameras added later appear here

    async def redeem(
        self,
        token: str,
        action: Action,
        camera: str,
        start: datetime | None,
        end: datetime | None,
        client: str = "",
        count_view: bool = True,
        clip: bool = False,
    ) -> Redemption:
        """Check a presented token (signature, server state, scope, time); a playback uses one view.
        With `clip` (a listing) the range is first clipped to the token's window (see `clipped`).

        Raises TokenRejected (403), after logging the refusal with its reason.
        """
        details: dict[str, Scalar] = {"action": action.value}
        try:
            claims = tokens.verify(token, self._public_key)
        except TokenRejected as bad:
            await self._refused(bad, None, camera, start, end, client, details)
            raise
        if clip:
            start, end = clipped((claims.start, claims.end), start, end)
        async with self._db() as session:
            row = await session.get(Disposition, claims.token_id)
        if row is None or row.request_id != claims.request_id:
            refusal = TokenRejected(Reason.TOKEN_UNKNOWN, "no such disposition")
            await self._refused(refusal, claims, camera, start, end, client, details)
            raise refusal
        now = self._clock.now()
        resource = Resource(camera, self._cameras.get(camera, frozenset()), start, end)
        grant = claims.grant(row.views_used, row.revoked_at is not None)
        decision = decide(self._rules, Subject(claims.grantee, None), action, resource, Context(now, client, grant))
        if not decision.allowed:
            refusal = TokenRejected(decision.reason, decision.detail)
            await self._refused(refusal, claims, camera, start, end, client, details)
            raise refusal
        views = row.views_used
        if count_view and action is Action.PLAYBACK:
            counted = await self._count_view(claims.token_id, now)
            if counted is None:
                # Another process used the last view or revoked the token since we read it.
                async with self._db() as session:
                    fresh = await session.get(Disposition, claims.token_id)
                revoked = fresh is not None and fresh.revoked_at is not None
                refusal = TokenRejected(
                    Reason.TOKEN_REVOKED if revoked else Reason.TOKEN_VIEWS_EXHAUSTED,
                    "the token was revoked" if revoked else f"all {claims.max_views} views are used",
                )
                await self._refused(refusal, claims, camera, start, end, client, details)
                raise refusal
            views = counted
        details["views_used"] = views
        details["max_views"] = claims.max_views
        await self._recorder.record(
            AccessEvent(AccessAction.TOKEN_REDEEMED, actor=claims.grantee, client=client, camera=camera,
                        start=start, end=end, outcome="allow", reason=decision.text, token_id=claims.token_id,
                        request_id=claims.request_id, details=details)
        )
        assert start is not None and end is not None  # the decision allows a given window only
        return Redemption(claims, decision, views, start, end, hashlib.sha256(token.encode()).hexdigest())

    async def _count_view(self, token_id: str, now: datetime) -> int | None:
        """Use one view atomically (one conditional UPDATE); None when none is left or revoked."""
        async with self._db() as session, session.begin():
            result = await session.execute(
                update(Disposition)
                .where(
                    Disposition.token_id == token_id,
                    Disposition.views_used < Disposition.max_views,
                    Disposition.revoked_at.is_(None),
                )
                .values(views_used=Disposition.views_used + 1, last_view_at=now)
                .returning(Disposition.views_used)
            )
            return result.scalar_one_or_none()

    async def _refused(
        self,
        exc: TokenRejected,
        claims: DispositionClaims | None,
        camera: str,
        start: datetime | None,
        end: datetime | None,
        client: str,
        details: dict[str, Scalar],
    ) -> None:
        await self._recorder.record(
            AccessEvent(
                AccessAction.TOKEN_REDEEMED, actor=claims.grantee if claims else None, client=client, camera=camera,
                start=start, end=end, outcome="deny", reason=f"{exc.reason.value}: {exc.detail}",
                token_id=claims.token_id if claims else None, request_id=claims.request_id if claims else None,
                details=details,
            )
        )
        log.info("disposition token refused: %s", exc.reason.value, extra={"client": client})
