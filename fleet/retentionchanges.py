"""Shortenings of a camera's retention asked through the API, waiting for a second person.

Retention deletes footage, so a shorter `retention_days` is a de-facto deletion. Asked through
`PATCH /api/v1/cameras/{id}`, it does not take effect: it is stored here as a pending change, and a
second person (`access.retention_approver_roles`, never the one who asked: `policy.decide()`
decides) approves or rejects it. Only an approval applies it. Lengthening needs nobody.

A change names the retention in force when it was asked (`from_days`); approving it when the
camera's retention has changed since is refused, so nobody approves what they did not see. One
change per camera may wait at a time. Rows are never deleted: the verdict is written once, on a
pending row only.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Float, String, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import Clock
from core.db import Base, UTCDateTime
from core.errors import Conflict, NotFound


class ChangeState(enum.StrEnum):
    """Where a retention change stands."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"  # taken back by who asked, before a verdict


class RetentionChangeRow(Base):
    """One shortening of a camera's retention, asked and (later) approved or rejected."""

    __tablename__ = "retention_changes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    #: The retention in force when it was asked (the camera's own, or the default).
    from_days: Mapped[float] = mapped_column(Float, nullable=False)
    #: The camera's `retention_days` asked for; None: back to `recording.retention_days`.
    to_days: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: The retention that would be in force (`to_days`, or the default when it was asked).
    effective_days: Mapped[float] = mapped_column(Float, nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    requested_by: Mapped[str] = mapped_column(String(128), nullable=False)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    note: Mapped[str] = mapped_column(String(1000), nullable=False, default="")


@dataclass(frozen=True, slots=True)
class RetentionChange:
    """A retention change as read back."""

    id: str
    camera_id: str
    from_days: float
    to_days: float | None
    effective_days: float
    state: ChangeState
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    note: str

    @classmethod
    def of(cls, row: RetentionChangeRow) -> RetentionChange:
        return cls(row.id, row.camera_id, row.from_days, row.to_days, row.effective_days, ChangeState(row.state),
                   row.requested_by, row.requested_at, row.decided_by, row.decided_at, row.note)


class RetentionChanges:
    """Stores, lists and decides retention changes."""

    def __init__(self, db: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def request(self, camera_id: str, from_days: float, to_days: float | None, effective_days: float,
                      by: str) -> RetentionChange:
        """A pending shortening; 409 when one for the camera is waiting already."""
        row = RetentionChangeRow(
            id="ret_" + secrets.token_hex(8), camera_id=camera_id, from_days=from_days, to_days=to_days,
            effective_days=effective_days, state=ChangeState.PENDING.value, requested_by=by,
            requested_at=self._clock.now(), note="")
        async with self._db() as session, session.begin():
            waiting = await session.scalar(select(RetentionChangeRow.id).where(
                RetentionChangeRow.camera_id == camera_id, RetentionChangeRow.state == ChangeState.PENDING.value))
            if waiting is not None:
                raise Conflict(f"a shortening of camera {camera_id!r}'s retention is waiting already ({waiting}); "
                               "it is approved, rejected or withdrawn first")
            session.add(row)
        return RetentionChange.of(row)

    async def get(self, change_id: str) -> RetentionChange:
        """The change `change_id`; 404 when there is none."""
        async with self._db() as session:
            row = await session.get(RetentionChangeRow, change_id)
        if row is None:
            raise NotFound(f"no retention change {change_id!r}")
        return RetentionChange.of(row)

    async def list(self, state: ChangeState | None = None, limit: int = 100) -> list[RetentionChange]:
        """Changes, newest first, optionally of one state."""
        query = select(RetentionChangeRow).order_by(RetentionChangeRow.requested_at.desc()).limit(limit)
        if state is not None:
            query = query.where(RetentionChangeRow.state == state.value)
        async with self._db() as session:
            return [RetentionChange.of(row) for row in (await session.scalars(query)).all()]

    async def decide(self, change_id: str, state: ChangeState, by: str, note: str) -> RetentionChange:
        """Write the verdict on a pending change, or its withdrawal (once: 409 when it was decided or
        withdrawn already)."""
        async with self._db() as session, session.begin():
            done = await session.execute(
                update(RetentionChangeRow)
                .where(RetentionChangeRow.id == change_id, RetentionChangeRow.state == ChangeState.PENDING.value)
                .values(state=state.value, decided_by=by, decided_at=self._clock.now(), note=note))
            if done.rowcount == 0:  # type: ignore[attr-defined]
                row = await session.get(RetentionChangeRow, change_id)
                if row is None:
                    raise NotFound(f"no retention change {change_id!r}")
                raise Conflict(f"retention change {change_id!r} is {row.state} already")
        return await self.get(change_id)
