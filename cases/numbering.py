"""Berita acara numbers: `cases.numbering` filled with the local year, month and the month's next
sequence number, counted in `case_numbers` so that no two minutes share a number."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from cases.models import CaseNumberRow


def period_of(when_local: datetime) -> str:
    """The numbering period of a local time: "YYYY/MM"."""
    return f"{when_local.year:04d}/{when_local.month:02d}"


async def next_number(session: AsyncSession, numbering: str, when_local: datetime) -> str:
    """The next number of `when_local`'s month, counted inside the caller's transaction (commit it
    with the minutes, so a number is spent only when its berita acara is stored)."""
    period = period_of(when_local)
    dialect = session.get_bind().dialect.name
    # The month's row must exist before it can be locked; two first closings of a month may both
    # try to create it, so the loser's insert is a no-op instead of a unique violation.
    if dialect == "postgresql":
        await session.execute(
            postgresql.insert(CaseNumberRow).values(period=period, last=0).on_conflict_do_nothing()
        )
    else:
        # SQLite has one writer at a time, and this write takes the lock for the whole transaction.
        await session.execute(sqlite.insert(CaseNumberRow).values(period=period, last=0).on_conflict_do_nothing())
    # FOR UPDATE holds other closings of the month here until this transaction ends (SQLite ignores it).
    last = await session.scalar(
        select(CaseNumberRow.last).where(CaseNumberRow.period == period).with_for_update()
    )
    seq = (last or 0) + 1
    await session.execute(update(CaseNumberRow).where(CaseNumberRow.period == period).values(last=seq))
    return numbering.format(year=when_local.year, month=when_local.month, seq=seq)
