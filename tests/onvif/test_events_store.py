"""Camera events in the database (table camera_events) on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from core.clock import ManualClock
from core.db import make_engine, make_sessionmaker
from camera_events.store import EventStore
from onvif_adapters.subscription import CameraEvent
from onvif_adapters.topics import EventKind

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def event(camera: str, kind: EventKind, minutes: int, active: bool = True) -> CameraEvent:
    return CameraEvent(
        camera=camera, kind=kind, active=active, at=T0 + timedelta(minutes=minutes),
        topic=f"tns1:{kind.value}", source={"Source": "VideoSource_1"}, data={"State": str(active).lower()},
        camera_time=T0, initial=minutes == 0,
    )


async def test_events_are_written_in_batches_read_back_filtered_and_expired(db_url: str) -> None:
    engine = make_engine(db_url)
    clock = ManualClock(T0 + timedelta(days=1))
    store = EventStore(make_sessionmaker(engine), clock, keep_days=30)
    try:
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(store.run())
            for n in range(3):
                store.add(event("gate", EventKind.MOTION, n))
            store.add(event("gate", EventKind.TAMPER, 5))
            store.add(event("lobby", EventKind.VIDEO_LOSS, 6, active=False))
            newest = await store.query({"gate", "lobby"}, None, None, 100)
            assert [(e.camera, e.kind, e.active) for e in newest] == [
                ("lobby", EventKind.VIDEO_LOSS, False), ("gate", EventKind.TAMPER, True),
                ("gate", EventKind.MOTION, True), ("gate", EventKind.MOTION, True), ("gate", EventKind.MOTION, True),
            ]
            assert newest[-1] == event("gate", EventKind.MOTION, 0)  # everything comes back as it went in
            assert len(await store.query({"gate"}, EventKind.MOTION, T0 + timedelta(minutes=1), 100)) == 2
            assert await store.query({"gate"}, EventKind.MOTION, None, 1) == [event("gate", EventKind.MOTION, 2)]
            assert await store.query(set(), None, None, 100) == []
            task.cancel()
        # Past keep_days: the next run deletes them.
        clock.advance(31 * 86400)
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(store.run())
            store.add(event("gate", EventKind.OTHER, 0))  # written after the retention pass
            await store.synced()
            task.cancel()
        assert [e.kind for e in await store.query({"gate", "lobby"}, None, None, 100)] == [EventKind.OTHER]
        assert store.written == 6 and store.dropped == 0
    finally:
        await engine.dispose()
