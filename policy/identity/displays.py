"""Enrolled wall displays: device credentials with the viewer role that outlive any person's sign-in.

A display's token is random, shown once at enrolment and stored only as its SHA-256 (as sessions
are). It does not expire; an administrator revokes it. A display is no user: it has no row in
`users`, and its principal carries `user_id` 0 (people's ids start at 1), which only the
disposition workflow stores, for roles a display never has.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.errors import BadRequest, Conflict, NotFound
from policy.identity.models import DisplayDevice
from policy.identity.users import Principal

log = logging.getLogger(__name__)

TOKEN_PREFIX = "ptd_"  # "pts_" is a person's session; both are easy to find with secret scanners
ROLE = "viewer"
USERNAME_PREFIX = "display:"  # a user name never holds ':', so a display is never mistaken for a person
USER_ID = 0
MAX_USERNAME = 64  # the width of every column that names who did something
# The name, once prefixed with USERNAME_PREFIX, fits where a user name does.
MAX_NAME = MAX_USERNAME - len(USERNAME_PREFIX)
MAX_REASON = 512  # the column's width
# last_used_at is written at most this often: a wall asks for its camera list every 3 s.
TOUCH_S = 60.0
# A use after this long without one (or the first since the gateway started) is a new use, worth one
# access-log entry; the requests of a wall that keeps running are not.
IDLE_S = 60.0


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class DisplayInfo:
    """An enrolled display as the API shows it (never its token)."""

    id: str
    name: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str
    last_used_at: datetime | None

    @property
    def username(self) -> str:
        """The name it acts under in decisions and the access log."""
        return USERNAME_PREFIX + self.name

    @property
    def principal(self) -> Principal:
        """Who the display is to the rest of the system: a viewer."""
        return Principal(USER_ID, self.username, ROLE, display_id=self.id)

    @classmethod
    def of(cls, row: DisplayDevice) -> DisplayInfo:
        """The info of a table row."""
        return cls(row.id, row.name, row.created_at, row.created_by, row.revoked_at, row.revoked_by,
                   row.revoke_reason, row.last_used_at)


@dataclass(frozen=True, slots=True)
class DisplayUse:
    """A request made with a display's token."""

    display: DisplayInfo
    #: Seconds since its previous use in this process; None for its first since start.
    idle_s: float | None

    @property
    def first(self) -> bool:
        """The first use since start or after IDLE_S without one: worth an access-log entry."""
        return self.idle_s is None or self.idle_s > IDLE_S


def check_name(name: str) -> str:
    """The name without surrounding blanks; BadRequest when empty, too long or not printable."""
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise BadRequest(f"a display's name must be 1-{MAX_NAME} printable characters")
    return name


class DisplayStore:
    """Enrols, lists, resolves and revokes wall displays."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock
        #: clock.monotonic() of each display's last use in this process.
        self._used: dict[str, float] = {}

    async def enrol(self, name: str, by: str) -> tuple[DisplayInfo, str]:
        """A new display and its token (shown once); BadRequest for a bad name, Conflict if taken."""
        name = check_name(name)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = DisplayDevice(
            id=str(uuid.uuid4()), name=name, token_sha256=_digest(token), created_at=self._clock.now(),
            created_by=by[:64], revoked_at=None, revoked_by=None, revoke_reason="", last_used_at=None,
        )
        async with self._sessions() as session:
            session.add(row)
            try:
                await session.commit()
            except IntegrityError as exc:
                # A revoked display keeps its name: its record says who enrolled and revoked it.
                raise Conflict(f"a display named {name!r} exists already (revoked ones keep their name)") from exc
        log.info("display enrolled: %s (%s) by %s", name, row.id, by)
        return DisplayInfo.of(row), token

    async def list(self) -> list[DisplayInfo]:
        """Every display, revoked ones included, oldest first."""
        async with self._sessions() as session:
            rows = await session.scalars(select(DisplayDevice).order_by(DisplayDevice.created_at, DisplayDevice.name))
            return [DisplayInfo.of(row) for row in rows]

    async def get(self, display_id: str) -> DisplayInfo | None:
        """One display by id."""
        if len(display_id) > 36:
            return None
        async with self._sessions() as session:
            row = await session.get(DisplayDevice, display_id)
        return DisplayInfo.of(row) if row is not None else None

    async def revoke(self, display_id: str, by: str, reason: str) -> DisplayInfo:
        """Revoke a display: its token is refused from the next request on. NotFound, Conflict if
        revoked already, BadRequest without a reason."""
        reason = reason.strip()
        if not reason:
            raise BadRequest("a revocation needs a reason")
        if len(reason) > MAX_REASON:
            raise BadRequest(f"reason is longer than {MAX_REASON} characters")
        if len(display_id) > 36:
            raise NotFound(f"no display {display_id!r}")
        async with self._sessions() as session, session.begin():
            done = await session.execute(
                update(DisplayDevice)
                .where(DisplayDevice.id == display_id, DisplayDevice.revoked_at.is_(None))
                .values(revoked_at=self._clock.now(), revoked_by=by[:64], revoke_reason=reason)
            )
            row = await session.get(DisplayDevice, display_id)
        if row is None:
            raise NotFound(f"no display {display_id!r}")
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(f"display {row.name!r} is revoked already")
        self._used.pop(display_id, None)
        log.info("display revoked: %s (%s) by %s", row.name, display_id, by)
        return DisplayInfo.of(row)

    async def _find(self, token: str) -> DisplayDevice | None:
        if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
            return None
        async with self._sessions() as session:
            row = await session.scalar(select(DisplayDevice).where(DisplayDevice.token_sha256 == _digest(token)))
        return row if row is not None and row.revoked_at is None else None

    async def resolve(self, token: str) -> Principal | None:
        """The display's principal while its token stands (unknown or revoked: None); no use noted."""
        row = await self._find(token)
        return DisplayInfo.of(row).principal if row is not None else None

    async def use(self, token: str) -> DisplayUse | None:
        """Resolve a request's token and note the use: last_used_at (at most once a minute) and the
        time since the previous use, which says whether this one is worth logging."""
        row = await self._find(token)
        if row is None:
            return None
        now = self._clock.now()
        if row.last_used_at is None or now - row.last_used_at >= timedelta(seconds=TOUCH_S):
            async with self._sessions() as session, session.begin():
                await session.execute(update(DisplayDevice).where(DisplayDevice.id == row.id).values(last_used_at=now))
            row.last_used_at = now
        # No await between reading and writing the last use: concurrent first requests log once.
        mono = self._clock.monotonic()
        before = self._used.get(row.id)
        self._used[row.id] = mono
        return DisplayUse(DisplayInfo.of(row), None if before is None else mono - before)
