"""Berita acara numbers: one sequence per local month, never given twice, even to closings at once."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from cases.models import CaseNumberRow
from cases.numbering import next_number
from core.casesconfig import CasesConfig
from core.db import make_engine, make_sessionmaker

NUMBERING = CasesConfig().numbering  # BA/CCTV/{year}/{month:02d}/{seq:04d}
ZONE = ZoneInfo("Asia/Jakarta")


async def test_numbers_count_per_local_month(db_url: str) -> None:
    engine = make_engine(db_url)
    db = make_sessionmaker(engine)
    try:
        async def number(when: datetime, numbering: str = NUMBERING) -> str:
            async with db() as session:
                value = await next_number(session, numbering, when)
                await session.commit()
                return value

        march = datetime(2026, 3, 31, 23, 59, tzinfo=ZONE)
        assert [await number(march) for _ in range(3)] == [f"BA/CCTV/2026/03/{n:04d}" for n in (1, 2, 3)]
        april = datetime(2026, 4, 1, 0, 1, tzinfo=ZONE)
        assert await number(april) == "BA/CCTV/2026/04/0001"  # a new month starts again at 1
        assert await number(march, "{seq}/BA-CCTV/{month}/{year}") == "4/BA-CCTV/3/2026"

        # A number not committed is not spent: the closing that drew it failed, the next one reuses it.
        async with db() as session:
            assert await next_number(session, NUMBERING, april) == "BA/CCTV/2026/04/0002"
            await session.rollback()
        assert await number(april) == "BA/CCTV/2026/04/0002"
        async with db() as session:
            periods = {r.period: r.last for r in await session.execute(select(CaseNumberRow.period, CaseNumberRow.last))}
        assert periods == {"2026/03": 4, "2026/04": 2}
    finally:
        await engine.dispose()


async def test_fifty_closings_at_once_get_fifty_consecutive_numbers(db_url: str) -> None:
    engine = make_engine(db_url)
    db = make_sessionmaker(engine)
    when = datetime(2026, 5, 17, 10, 0, tzinfo=ZONE)

    async def close_one() -> str:
        async with db() as session:
            value = await next_number(session, NUMBERING, when)
            # Hold the number a moment inside the transaction, as a closing does while it stores the minutes.
            await asyncio.sleep(0.01)
            await session.commit()
            return value

    try:
        # All fifty start together when the group's body awaits its end.
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(close_one()) for _ in range(50)]
        numbers = [task.result() for task in tasks]
    finally:
        await engine.dispose()
    assert len(set(numbers)) == 50
    assert sorted(numbers) == [f"BA/CCTV/2026/05/{n:04d}" for n in range(1, 51)]
