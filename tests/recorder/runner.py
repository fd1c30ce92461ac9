"""A small recording process for tests: one Camera and a Recorder until SIGTERM (or SIGKILL).

    python tests/recorder/runner.py --url rtsp://... --storage DIR --db URL [--segment-s S] [--camera ID]
Prints "ready" once the recorder runs; on SIGTERM finishes open segments and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.clock import SystemClock  # noqa: E402
from core.config import CameraConfig, Settings  # noqa: E402
from core.db import make_engine, make_sessionmaker  # noqa: E402
from recorder.reports import LogOnlySink  # noqa: E402
from recorder.service import Recorder  # noqa: E402
from streams.camera import Camera  # noqa: E402


async def main(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    assert me is not None
    loop.add_signal_handler(signal.SIGTERM, me.cancel)
    settings = Settings(
        storage={"path": Path(args.storage)},
        database={"url": args.db},
        recording={"segment_s": args.segment_s},
        cameras=[CameraConfig(id=args.camera, source=args.url,
                              backoff={"initial_s": 0.5, "max_s": 1.0})],
    )
    clock = SystemClock()
    engine = make_engine(args.db)
    try:
        db = make_sessionmaker(engine)
        cams = {c.id: Camera(c, settings.camera_health(c), settings.hub.subscriber_queue, clock)
                for c in settings.cameras}
        recorder = Recorder(settings, db, clock, cams, LogOnlySink())
        with contextlib.suppress(asyncio.CancelledError):
            async with asyncio.TaskGroup() as tasks:
                for cam in cams.values():
                    tasks.create_task(cam.run())
                tasks.create_task(recorder.run())
                print("ready", flush=True)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--storage", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--camera", default="cam1")
    parser.add_argument("--segment-s", type=float, default=2.0)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(main(parser.parse_args()))
