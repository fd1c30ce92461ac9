"""Redeeming a disposition token: signature, server state, scope and time, then one view used
(of the camera played, or of the token's total: `disposition.views_per`), or one copy used.

The token is verified here and nowhere else on the way (once per request); a listing's range is
clipped to the token's window here too, so the caller gets the window that was decided on.

Split from the workflow (policy/dispositions/workflow.py), which builds one TokenRedeemer and shares
its camera groups with it, so a camera added while running is known to both.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.config import AccessConfig
from policy.dispositions import tokens
from policy.decision import Action, Context, Decision, Reason, Resource, Subject, decide
from policy.dispositions.models import Disposition, DispositionView
from policy.audit.entries import AccessAction, AccessEvent, AccessRecorder, Scalar
from policy.dispositions.tokens import DispositionClaims, TokenRejected

log = logging.getLogger(__name__)


# Stands in for an empty range at an edge of the token's window, so the decision refuses it.
_INSTANT = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Redemption:
    """An allowed use of a token: the claims, the window decided on, what the decision asks of the
    caller, views so far (the camera's, or the total), copies used so far, and the token's SHA-256
    (how its holder is recognised later)."""

    claims: DispositionClaims
    decision: Decision
    views_used: int
    start: datetime
    end: datetime
    token_sha256: str
    copies_used: int = 0


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
        per_camera = self._rules.disposition.views_per == "camera"
        async with self._db() as session:
            row = await session.get(Disposition, claims.token_id)
            camera_used = await session.scalar(
                select(DispositionView.used)
                .where(DispositionView.token_id == claims.token_id, DispositionView.camera == camera)
            )
        if row is None or row.request_id != claims.request_id:
            refusal = TokenRejected(Reason.TOKEN_UNKNOWN, "no such disposition")
            await self._refused(refusal, claims, camera, start, end, client, details)
            raise refusal
        now = self._clock.now()
        resource = Resource(camera, self._cameras.get(camera, frozenset()), start, end)
        views = (camera_used or 0) if per_camera else row.views_used
        grant = claims.grant(views, row.revoked_at is not None, row.copies_used)
        decision = decide(self._rules, Subject(claims.grantee, None), action, resource, Context(now, client, grant))
        if not decision.allowed:
            refusal = TokenRejected(decision.reason, decision.detail)
            await self._refused(refusal, claims, camera, start, end, client, details)
            raise refusal
        if count_view and action is Action.PLAYBACK:
            counted = await (self._count_camera_view(claims.token_id, camera, now) if per_camera
                             else self._count_view(claims.token_id, camera, now))
            if counted is None:
                # Another process used the last view or revoked the token since we read it.
                async with self._db() as session:
                    fresh = await session.get(Disposition, claims.token_id)
                revoked = fresh is not None and fresh.revoked_at is not None
                of = " of this camera" if per_camera else ""
                refusal = TokenRejected(
                    Reason.TOKEN_REVOKED if revoked else Reason.TOKEN_VIEWS_EXHAUSTED,
                    "the token was revoked" if revoked else f"all {claims.max_views} views{of} are used",
                )
                await self._refused(refusal, claims, camera, start, end, client, details)
                raise refusal
            views = counted
        details["views_used"] = views
        details["max_views"] = claims.max_views
        details["views_per"] = self._rules.disposition.views_per
        await self._recorder.record(
            AccessEvent(AccessAction.TOKEN_REDEEMED, actor=claims.grantee, client=client, camera=camera,
                        start=start, end=end, outcome="allow", reason=decision.text, token_id=claims.token_id,
                        request_id=claims.request_id, details=details)
        )
        assert start is not None and end is not None  # the decision allows a given window only
        return Redemption(claims, decision, views, start, end, _sha256(token), row.copies_used)

    async def redeem_copy(
        self,
        token: str,
        cameras: Sequence[str],
        start: datetime | None,
        end: datetime | None,
        client: str = "",
        keeps_audio: bool = False,
    ) -> Redemption:
        """Use one copy of the token for these cameras and window (None: the token's whole window):
        the token is verified once, every camera must be allowed `export` by the decision, then one
        copy is used atomically. `keeps_audio`: the copy cannot leave the sound out (a bundle of
        sealed segments that hold sound), so a decision with no_audio refuses it before a copy is
        used. Raises TokenRejected (403), after logging the refusal."""
        listed = ",".join(cameras)
        details: dict[str, Scalar] = {"action": Action.EXPORT.value, "cameras": listed}
        one = cameras[0] if len(cameras) == 1 else None  # the entry names a camera only when there is one
        try:
            claims = tokens.verify(token, self._public_key)
        except TokenRejected as bad:
            await self._refused(bad, None, one, start, end, client, details)
            raise
        start, end = start or claims.start, end or claims.end
        async with self._db() as session:
            row = await session.get(Disposition, claims.token_id)
        if row is None or row.request_id != claims.request_id:
            refusal = TokenRejected(Reason.TOKEN_UNKNOWN, "no such disposition")
            await self._refused(refusal, claims, one, start, end, client, details)
            raise refusal
        now = self._clock.now()
        grant = claims.grant(row.views_used, row.revoked_at is not None, row.copies_used)
        details["copies"] = claims.copies
        # Every camera must be allowed; none named is asked as no camera, which the decision refuses.
        resources = [Resource(c, self._cameras.get(c, frozenset()), start, end) for c in cameras] or [Resource()]
        for resource in resources:
            decision = decide(self._rules, Subject(claims.grantee, None), Action.EXPORT, resource,
                              Context(now, client, grant))
            if not decision.allowed:
                break
        if not decision.allowed:
            refusal = TokenRejected(decision.reason, decision.detail)
            await self._refused(refusal, claims, one, start, end, client, details)
            raise refusal
        if keeps_audio and not decision.audio:
            refusal = TokenRejected(Reason.AUDIO_WITHHELD, "the disposition withholds the sound (no_audio) and the "
                                    "sealed segments asked for hold sound; a bundle cannot leave it out: ask for "
                                    "the mp4 format, which is video only")
            await self._refused(refusal, claims, one, start, end, client, details)
            raise refusal
        used = await self._use_copy(claims.token_id)
        if used is None:
            # Another request used the last copy or the token was revoked since we read it.
            async with self._db() as session:
                fresh = await session.get(Disposition, claims.token_id)
            revoked = fresh is not None and fresh.revoked_at is not None
            refusal = TokenRejected(
                Reason.TOKEN_REVOKED if revoked else Reason.TOKEN_COPIES_EXHAUSTED,
                "the token was revoked" if revoked else f"all {claims.copies} copies are used",
            )
            await self._refused(refusal, claims, one, start, end, client, details)
            raise refusal
        details["copies_used"] = used
        await self._recorder.record(
            AccessEvent(AccessAction.TOKEN_REDEEMED, actor=claims.grantee, client=client, camera=one,
                        start=start, end=end, outcome="allow", reason=decision.text, token_id=claims.token_id,
                        request_id=claims.request_id, details=details)
        )
        log.info("disposition %s: copy %d of %d used", claims.token_id, used, claims.copies)
        return Redemption(claims, decision, row.views_used, start, end, _sha256(token), used)

    async def check_token(self, token: str, client: str = "") -> DispositionClaims:
        """The claims of a token that still stands: signature, the disposition exists, is not
        revoked and is within its validity. Uses nothing; a refusal is logged and raised (403)."""
        details: dict[str, Scalar] = {"action": "check"}
        try:
            claims = tokens.verify(token, self._public_key)
        except TokenRejected as bad:
            await self._refused(bad, None, None, None, None, client, details)
            raise
        async with self._db() as session:
            row = await session.get(Disposition, claims.token_id)
        if row is None or row.request_id != claims.request_id:
            refusal = TokenRejected(Reason.TOKEN_UNKNOWN, "no such disposition")
            await self._refused(refusal, claims, None, None, None, client, details)
            raise refusal
        # Listing its own window is what any standing token may do, so the decision's token rules
        # (revoked, not yet valid, expired) answer "does it stand?" without a second copy of them.
        grant = claims.grant(row.views_used, row.revoked_at is not None, row.copies_used)
        camera = claims.cameras[0] if claims.cameras else None
        resource = Resource(camera, self._cameras.get(camera or "", frozenset()), claims.start, claims.end)
        decision = decide(self._rules, Subject(claims.grantee, None), Action.LIST_RECORDINGS, resource,
                          Context(self._clock.now(), client, grant))
        if not decision.allowed:
            refusal = TokenRejected(decision.reason, decision.detail)
            await self._refused(refusal, claims, None, None, None, client, details)
            raise refusal
        return claims

    async def _use_copy(self, token_id: str) -> int | None:
        """Use one copy atomically (one conditional UPDATE); None when none is left or revoked."""
        async with self._db() as session, session.begin():
            result = await session.execute(
                update(Disposition)
                .where(
                    Disposition.token_id == token_id,
                    Disposition.copies_used < Disposition.copies,
                    Disposition.revoked_at.is_(None),
                )
                .values(copies_used=Disposition.copies_used + 1)
                .returning(Disposition.copies_used)
            )
            return result.scalar_one_or_none()

    async def _count_camera_view(self, token_id: str, camera: str, now: datetime) -> int | None:
        """Use one view of `camera` atomically (one conditional UPDATE of its counter, bounded by
        the disposition's max_views and void once revoked); the disposition's total and last view
        move with it, in the same transaction. None when none is left or revoked."""
        standing = (
            select(Disposition.max_views)
            .where(Disposition.token_id == token_id, Disposition.revoked_at.is_(None))
            .scalar_subquery()
        )
        async with self._db() as session, session.begin():
            result = await session.execute(
                update(DispositionView)
                .where(
                    DispositionView.token_id == token_id,
                    DispositionView.camera == camera,
                    DispositionView.used < standing,  # NULL (revoked) compares false
                )
                .values(used=DispositionView.used + 1)
                .returning(DispositionView.used)
            )
            used = result.scalar_one_or_none()
            if used is not None:
                await session.execute(
                    update(Disposition)
                    .where(Disposition.token_id == token_id)
                    .values(views_used=Disposition.views_used + 1, last_view_at=now)
                )
            return used

    async def _count_view(self, token_id: str, camera: str, now: datetime) -> int | None:
        """Use one view of the token's total atomically (one conditional UPDATE); the camera's
        counter follows, for display only. None when none is left or revoked."""
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
            used = result.scalar_one_or_none()
            if used is not None:
                await session.execute(
                    update(DispositionView)
                    .where(DispositionView.token_id == token_id, DispositionView.camera == camera)
                    .values(used=DispositionView.used + 1)
                )
            return used

    async def _refused(
        self,
        exc: TokenRejected,
        claims: DispositionClaims | None,
        camera: str | None,
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


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
