"""A stop that comes while camera state transitions are being written loses none and stores none
twice (fleet/statushistory.py): the batch in flight is finished, what is queued is written on the
way out. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from core.db import make_engine, make_sessionmaker
from fleet.statushistory import StatusLog
from streams.models import CameraStateChange
from streams.state import CameraState, CameraStatus


async def test_a_stop_at_any_moment_of_a_write_keeps_every_transition_once(db_url: str) -> None:
    engine = make_engine(db_url)
    db = make_sessionmaker(engine)
    start = datetime(2026, 12, 5, tzinfo=UTC)
    pushed = 0
    try:
        for delay_ms in range(0, 40, 2):  # a stop at each moment of the first write, and between
            log = StatusLog(db)
            task = asyncio.create_task(log.run())
            for i in range(6):
                state = CameraState.ONLINE if i % 2 else CameraState.OFFLINE
                log(f"cam{i}", None, CameraStatus(state, start + timedelta(seconds=pushed)))
                pushed += 1
                if i == 2:
                    await asyncio.sleep(0.001)  # the first three go in one batch, the rest queue
            await asyncio.sleep(delay_ms / 1000)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            async with db() as session:
                stored = await session.scalar(select(func.count()).select_from(CameraStateChange))
                distinct = await session.scalar(select(func.count(func.distinct(CameraStateChange.at))))
            assert (stored, distinct) == (pushed, pushed), f"stopped {delay_ms} ms in"
    finally:
        await engine.dispose()
