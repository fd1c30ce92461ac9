"""Helpers for tests that run a Camera against a real source."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from core.clock import SystemClock
from core.config import BackoffConfig, CameraConfig, HealthConfig
from streams.camera import Camera
from streams.state import CameraStatus

# Small timeouts so outages show within a test's patience.
FAST = dict(
    open_timeout_s=3,
    read_timeout_s=2,
    stall_timeout_s=2,
    backoff=BackoffConfig(initial_s=0.2, max_s=1.0, jitter=0.1),
)


def make_camera(source: str, cam_id: str = "cam", **overrides: object) -> tuple[Camera, list[CameraStatus]]:
    """A Camera with test timeouts and a list collecting its status changes."""
    statuses: list[CameraStatus] = []
    cfg = CameraConfig(id=cam_id, source=source, **{**FAST, **overrides})  # type: ignore[arg-type]
    camera = Camera(cfg, HealthConfig(), 64, SystemClock(), lambda _id, _old, new: statuses.append(new))
    return camera, statuses


@asynccontextmanager
async def running(camera: Camera) -> AsyncIterator[asyncio.Task[None]]:
    """Run camera.run() for the block; cancel it and wait for it afterwards."""
    task = asyncio.create_task(camera.run(), name=f"test-{camera.id}")
    try:
        yield task
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass


async def wait_until(predicate: Callable[[], bool], limit_s: float, what: str = "condition") -> float:
    """Poll until predicate() holds; return the seconds it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > limit_s:
            raise AssertionError(f"{what} not reached within {limit_s} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - start
