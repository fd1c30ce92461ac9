"""Bearer sessions: random tokens, stored only as SHA-256, with an expiry."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from policy.identity.models import ApiSession, User
from policy.identity.users import Principal

TOKEN_PREFIX = "pts_"  # makes a leaked token easy to find with secret scanners


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    """Issues, resolves and revokes API sessions."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], clock: Clock, ttl_s: int
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._ttl = timedelta(seconds=ttl_s)

    async def issue(self, who: Principal, client: str) -> tuple[str, datetime]:
        """A new token for `who` and its expiry."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._clock.now()
        row = ApiSession(
            token_sha256=_digest(token),
            user_id=who.user_id,
            created_at=now,
            expires_at=now + self._ttl,
            client=client[:64],
            revoked=False,
        )
        async with self._sessions() as session:
            session.add(row)
            await session.commit()
        return token, row.expires_at

    async def resolve(self, token: str) -> Principal | None:
        """The principal behind a live token, or None (unknown, expired, revoked, disabled)."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
            return None
        async with self._sessions() as session:
            row = await session.execute(
                select(ApiSession, User)
                .join(User, User.id == ApiSession.user_id)
                .where(ApiSession.token_sha256 == _digest(token))
            )
            found = row.first()
        if found is None:
            return None
        api_session, user = found
        if api_session.revoked or user.disabled or api_session.expires_at <= self._clock.now():
            return None
        return Principal(user.id, user.username, user.role)

    async def revoke(self, token: str) -> None:
        """End a session (sign-out)."""
        async with self._sessions() as session:
            row = await session.get(ApiSession, _digest(token))
            if row is not None:
                row.revoked = True
                await session.commit()
