"""Running Cameras and a Recorder in the test's event loop, and reading what they wrote."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
from sqlalchemy import select

from core.clock import SystemClock
from core.config import CameraConfig, Settings
from core.db import make_engine, make_sessionmaker
from recorder.reports import LogOnlySink
from recorder.models import Gap, Segment
from recorder.service import Recorder
from streams.camera import Camera


def settings_for(storage: Path, db_url: str, urls: dict[str, str], **recording: Any) -> Settings:
    return Settings(
        storage={"path": storage},
        database={"url": db_url},
        recording={"segment_s": 2.0, **recording},
        cameras=[
            CameraConfig(id=cam, source=url, backoff={"initial_s": 0.3, "max_s": 0.6, "jitter": 0},
                         stall_timeout_s=2.0, read_timeout_s=2.0)
            for cam, url in urls.items()
        ],
    )


class Running:
    def __init__(self, recorder: Recorder, cameras: dict[str, Camera], sink: LogOnlySink) -> None:
        self.recorder = recorder
        self.cameras = cameras
        self.sink = sink


@contextlib.asynccontextmanager
async def recording(settings: Settings, cameras: dict[str, Camera] | None = None,
                    run_cameras: bool = True) -> AsyncIterator[Running]:
    """Cameras + Recorder running until the block ends (then cancelled and awaited)."""
    clock = SystemClock()
    engine = make_engine(settings.database_url)
    own = cameras is None
    cams = cameras if cameras is not None else {
        c.id: Camera(c, settings.camera_health(c), settings.hub.subscriber_queue, clock) for c in settings.cameras
    }
    sink = LogOnlySink()
    recorder = Recorder(settings, make_sessionmaker(engine), clock, cams, sink)
    tasks = [asyncio.create_task(recorder.run())]
    if own and run_cameras:
        tasks += [asyncio.create_task(c.run()) for c in cams.values()]
    try:
        yield Running(recorder, cams, sink)
    finally:
        for t in tasks:
            t.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await engine.dispose()
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError):
                raise r


async def rows(db_url: str) -> tuple[list[Segment], list[Gap]]:
    engine = make_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as session:
            segs = list((await session.scalars(select(Segment).order_by(Segment.camera_id, Segment.start))).all())
            gaps = list((await session.scalars(select(Gap).order_by(Gap.camera_id, Gap.start))).all())
    finally:
        await engine.dispose()
    return segs, gaps


def decode_all(path: Path) -> int:
    """Frames decoded from a file end to end; raises on a decoding error."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = 0
        for packet in container.demux(stream):
            frames += len(packet.decode())
        return frames


async def wait_for(predicate: Any, limit_s: float, step: float = 0.2) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)
