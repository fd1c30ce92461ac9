"""Users and roles: creating accounts and checking passwords (hashing runs off the loop; checks
go through a HashBudget: policy/identity/hashbudget.py)."""

from __future__ import annotations

import asyncio
import enum
import logging
import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.config import ROLES
from core.errors import BadRequest, Conflict
from policy.identity.devicesecrets import DEVICE_ROLE, DeviceSecrets
from policy.identity.hashbudget import HashBudget
from policy.identity.models import User
from policy.identity.passwords import DUMMY_HASH, hash_password, verify_password

log = logging.getLogger(__name__)

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MIN_PASSWORD = 10


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: the signed-in user (or enrolled display) as the rest of the system sees it."""

    user_id: int
    username: str
    role: str
    #: Set when the caller is an enrolled wall display (policy/identity/displays.py), not a person.
    display_id: str | None = None


class SignInRefusal(enum.StrEnum):
    """Why a sign-in was refused, as the access log says it."""

    WRONG = "unknown user or wrong password"
    #: The password was right, but an administrator disabled the account.
    DISABLED = "disabled"


class UserStore:
    """Accounts in the database."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock,
                 device_secrets: DeviceSecrets | None = None, hashing: HashBudget | None = None) -> None:
        self._sessions = sessions
        self._clock = clock
        self.hashing = hashing or HashBudget()
        self._device_secrets = device_secrets  # for integrator accounts (policy/identity/devicesecrets.py)

    async def add(self, username: str, role: str, password: str) -> Principal:
        """Create a user; BadRequest for a bad name, role or short password, Conflict if taken."""
        if not USERNAME.fullmatch(username):
            raise BadRequest("username must be 1-64 of letters, digits, '.', '_' or '-'")
        if role not in ROLES:
            raise BadRequest(f"role must be one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD:
            raise BadRequest(f"password must have at least {MIN_PASSWORD} characters")
        if role == DEVICE_ROLE and self._device_secrets is None:
            raise BadRequest("an integrator account keeps a device secret; this store has no device-secret key")
        hashed = await asyncio.to_thread(hash_password, password)
        user = User(
            username=username,
            role=role,
            password_hash=hashed,
            disabled=False,
            created_at=self._clock.now(),
        )
        async with self._sessions() as session:
            session.add(user)
            try:
                if role == DEVICE_ROLE:
                    assert self._device_secrets is not None
                    await session.flush()  # the id the sealed password is bound to
                    session.add(self._device_secrets.row(user.id, password))
                await session.commit()
            except IntegrityError as exc:
                raise Conflict(f"user {username!r} exists already") from exc
        log.info("user created: %s (%s)", username, role)
        return Principal(user.id, user.username, user.role)

    async def count(self) -> int:
        """Number of accounts."""
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(User)) or 0)

    async def authenticate(self, username: str, password: str) -> Principal | None:
        """The user if the password is right and the account enabled; same cost either way."""
        found = await self.check(username, password)
        return found if isinstance(found, Principal) else None

    async def check(self, username: str, password: str) -> Principal | SignInRefusal:
        """The user if the password is right and the account enabled, else why not; same cost
        either way. DISABLED only with the right password, so it tells nobody else that the name
        exists."""
        async with self._sessions() as session:
            user = await session.scalar(select(User).where(User.username == username))
        stored = user.password_hash if user is not None else DUMMY_HASH
        ok = await self.hashing.run(lambda: verify_password(password, stored))
        if not ok or user is None:
            return SignInRefusal.WRONG
        if user.disabled:
            return SignInRefusal.DISABLED
        return Principal(user.id, user.username, user.role)

    async def get(self, user_id: int) -> Principal | None:
        """An enabled user by id."""
        async with self._sessions() as session:
            user = await session.get(User, user_id)
        if user is None or user.disabled:
            return None
        return Principal(user.id, user.username, user.role)

    async def enabled(self, username: str) -> Principal | None:
        """An enabled user by name (a signed link names its user so)."""
        async with self._sessions() as session:
            user = await session.scalar(select(User).where(User.username == username))
        if user is None or user.disabled:
            return None
        return Principal(user.id, user.username, user.role)
