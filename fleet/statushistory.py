"""Stores camera state transitions in the database, off the camera's path."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.waiting import finish
from streams.models import CameraStateChange
from streams.state import CameraState, CameraStatus

log = logging.getLogger(__name__)


class StatusLog:
    """A StatusListener that queues transitions; `run()` writes them in batches."""

    def __init__(self, db: async_sessionmaker[AsyncSession], maxsize: int = 10_000) -> None:
        self._db = db
        self._queue: asyncio.Queue[tuple[str, CameraStatus]] = asyncio.Queue(maxsize)
        self.dropped = 0

    def __call__(self, camera_id: str, old: CameraStatus | None, new: CameraStatus) -> None:
        if old is not None and old.state == new.state and old.problems == new.problems:
            return  # attempt counters and retry times change often; only states are history
        if new.state is CameraState.REMOTE:
            return  # another node ingests it and stores what it sees in the same table
        try:
            self._queue.put_nowait((camera_id, new))
        except asyncio.QueueFull:
            self.dropped += 1
            log.error("state history queue full; transition of %s not stored", camera_id)

    async def run(self) -> None:
        """Write transitions until cancelled; flush what is queued on the way out."""
        try:
            while True:
                batch = [await self._queue.get()]
                while not self._queue.empty() and len(batch) < 500:
                    batch.append(self._queue.get_nowait())
                await finish(self._write(batch))  # a stop waits for the batch in flight
        except asyncio.CancelledError:
            rest = []
            while not self._queue.empty():
                rest.append(self._queue.get_nowait())
            if rest:
                await asyncio.shield(self._write(rest))
            raise

    async def _write(self, batch: list[tuple[str, CameraStatus]]) -> None:
        rows = [
            CameraStateChange(
                camera_id=camera_id,
                at=status.since,
                state=status.state.value,
                reason=status.reason[:512],
                problems=",".join(status.problems)[:256],
            )
            for camera_id, status in batch
        ]
        try:
            async with self._db() as session:
                session.add_all(rows)
                await session.commit()
        except Exception:  # a database hiccup must not stop the cameras; say it loudly
            log.exception("could not store %d camera state transitions", len(rows))
