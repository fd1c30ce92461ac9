"""Administering accounts: listing them, disabling and enabling, changing a role, setting a new
password. Shared by the CLI and the API, which log each change (`user_changed`).

Disabling an account revokes its API sessions in the same transaction, so enabling it again later
revives none of them: the person signs in anew. A new password set by an administrator does the
same. An administrator is an account whose role is one of `access.admin_roles` (the roles the
policy lets `administer`). Every change that would leave no enabled administrator is refused
(Conflict), whoever asks; on PostgreSQL the enabled administrators' rows are locked while it is
checked, so two administrators disabling each other at once cannot both succeed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.config import ROLES
from core.errors import BadRequest, Conflict, NotFound
from policy.identity.devicesecrets import DEVICE_ROLE, DeviceSecrets
from policy.identity.models import ApiSession, User
from policy.identity.passwords import hash_password
from policy.identity.users import MIN_PASSWORD

log = logging.getLogger(__name__)



@dataclass(frozen=True, slots=True)
class UserInfo:
    """An account as administrators see it; never its password hash."""

    username: str
    role: str
    enabled: bool
    created_at: datetime
    #: When it last signed in (its newest API session), None if never.
    last_sign_in_at: datetime | None


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field of an account that changed: `enabled`, `role` or `password` (which has no values)."""

    field: str
    before: str | bool | None = None
    after: str | bool | None = None


@dataclass(frozen=True, slots=True)
class UserChange:
    """What one administrative request did to an account."""

    user: UserInfo
    changes: tuple[FieldChange, ...]
    #: API sessions of the account revoked by it.
    sessions_revoked: int = 0


class UserAdmin:
    """Account administration in the database."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, admin_roles: Collection[str],
                 device_secrets: DeviceSecrets | None = None) -> None:
        self._sessions = sessions
        self._clock = clock
        self._admin_roles = frozenset(admin_roles)
        self._device_secrets = device_secrets  # an integrator's new password is sealed anew

    async def list(self) -> list[UserInfo]:
        """Every account, by name."""
        last = (select(ApiSession.user_id, func.max(ApiSession.created_at).label("last"))
                .group_by(ApiSession.user_id).subquery())
        async with self._sessions() as session:
            rows = await session.execute(
                select(User, last.c.last).outerjoin(last, last.c.user_id == User.id).order_by(User.username))
            return [_info(user, at) for user, at in rows]

    async def get(self, username: str) -> UserInfo:
        """One account; NotFound."""
        async with self._sessions() as session:
            return await self._info(session, await self._user(session, username))

    async def change(self, username: str, *, enabled: bool | None = None, role: str | None = None) -> UserChange:
        """Enable or disable an account and/or give it another role; only what differs is changed.
        NotFound; BadRequest for an unknown role or an integrator's role; Conflict when no enabled
        administrator would be left."""
        if role is not None and role not in ROLES:
            raise BadRequest(f"role must be one of {', '.join(ROLES)}")
        async with self._sessions() as session, session.begin():
            user = await self._user(session, username)
            changes: list[FieldChange] = []
            if role is not None and role != user.role:
                if DEVICE_ROLE in (role, user.role):
                    # An integrator's password is kept sealed for RTSP and ONVIF digests: such an
                    # account is created as one (`pantau user add --role integrator`), never made.
                    raise BadRequest("an integrator account is created as one; its role is not changed")
                changes.append(FieldChange("role", user.role, role))
            if enabled is not None and enabled == user.disabled:
                changes.append(FieldChange("enabled", not user.disabled, enabled))
            new_role = role if role is not None else user.role
            new_enabled = enabled if enabled is not None else not user.disabled
            removing = bool(changes) and user.role in self._admin_roles and not user.disabled and (
                new_role not in self._admin_roles or not new_enabled)
            if removing:  # PostgreSQL: the enabled administrators' rows, locked until commit
                await session.execute(select(User.id).where(self._enabled_admin()).with_for_update())
            user.role, user.disabled = new_role, not new_enabled
            await session.flush()
            if removing:
                await self._keep_an_admin(session, user)
            disabling = any(c.field == "enabled" for c in changes) and not new_enabled
            revoked = await self._revoke_sessions(session, user) if disabling else 0
            info = await self._info(session, user)
        for change in changes:
            log.info("user %s: %s %s -> %s", username, change.field, change.before, change.after)
        return UserChange(info, tuple(changes), revoked)

    async def set_password(self, username: str, password: str) -> UserChange:
        """Give an account a new password (an integrator's is sealed anew) and revoke its API
        sessions. NotFound; BadRequest for a short password or an integrator without a key."""
        if len(password) < MIN_PASSWORD:
            raise BadRequest(f"password must have at least {MIN_PASSWORD} characters")
        hashed = await asyncio.to_thread(hash_password, password)
        async with self._sessions() as session, session.begin():
            user = await self._user(session, username)
            user.password_hash = hashed
            if user.role == DEVICE_ROLE:
                if self._device_secrets is None:
                    raise BadRequest("an integrator account keeps a device secret; this store has no device-secret key")
                await session.merge(self._device_secrets.row(user.id, password))
            revoked = await self._revoke_sessions(session, user)
            info = await self._info(session, user)
        log.info("user %s: password set", username)
        return UserChange(info, (FieldChange("password"),), revoked)

    @staticmethod
    async def _user(session: AsyncSession, username: str) -> User:
        user = await session.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound(f"no user {username!r}")
        return user

    def _enabled_admin(self) -> ColumnElement[bool]:
        return and_(User.role.in_(sorted(self._admin_roles)), User.disabled.is_(False))

    async def _keep_an_admin(self, session: AsyncSession, user: User) -> None:
        """Conflict unless an enabled administrator is left once `user`'s change is written.

        Counted after the write: on SQLite the write took the database's lock (its driver begins
        the transaction only then, so a read before it sees no locked snapshot), and on PostgreSQL
        the administrators' rows were locked before it, so a concurrent change is counted here
        or waits for this one."""
        left = await session.scalar(select(func.count()).select_from(User).where(self._enabled_admin()))
        if not left:
            raise Conflict(f"{user.username!r} is the last enabled administrator; enable or make another first")

    async def _revoke_sessions(self, session: AsyncSession, user: User) -> int:
        done = await session.execute(
            update(ApiSession).where(ApiSession.user_id == user.id, ApiSession.revoked.is_(False),
                                     ApiSession.expires_at > self._clock.now()).values(revoked=True))
        return int(done.rowcount)  # type: ignore[attr-defined]

    @staticmethod
    async def _info(session: AsyncSession, user: User) -> UserInfo:
        last = await session.scalar(select(func.max(ApiSession.created_at)).where(ApiSession.user_id == user.id))
        return _info(user, last)


def _info(user: User, last_sign_in_at: datetime | None) -> UserInfo:
    return UserInfo(user.username, user.role, not user.disabled, user.created_at, last_sign_in_at)

