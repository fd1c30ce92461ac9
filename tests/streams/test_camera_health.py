"""Image health inside Camera.run: problems make a camera degraded, and clear back to online."""

from __future__ import annotations

from core.clock import SystemClock
from core.config import CameraConfig, HealthConfig
from streams.camera import Camera
from streams.state import CameraState, CameraStatus
from tests.streams.camera_helpers import FAST, running, wait_until


async def test_frozen_demo_goes_degraded() -> None:
    statuses: list[CameraStatus] = []
    # 50 fps with GOP 50: a keyframe a second, so two identical samples take ~2 s.
    cfg = CameraConfig(id="still", source="demo://frozen?size=320x240&fps=50", **FAST)  # type: ignore[arg-type]
    health = HealthConfig(sample_interval_s=0.5, frozen_samples=2)
    camera = Camera(cfg, health, 64, SystemClock(), lambda _id, _old, new: statuses.append(new))
    async with running(camera):
        await wait_until(lambda: camera.status.state == CameraState.DEGRADED, 6, "degraded")
        assert "frozen" in camera.status.problems
        assert "frozen picture" in camera.status.reason
        # The monitor's sampling drops are by design: not counted as lost video.
        assert camera.hub.dropped_total == 0
        # Cleared problems bring it back online (the report path the monitor uses).
        camera._report_problems(())
        assert camera.status.state == CameraState.ONLINE and camera.status.problems == ()
    states = [s.state for s in statuses]
    assert states[:3] == [CameraState.CONNECTING, CameraState.ONLINE, CameraState.DEGRADED]


async def test_problems_while_offline_are_kept_for_the_next_connection() -> None:
    camera = Camera(CameraConfig(id="x", source="demo://pattern"), HealthConfig(), 16, SystemClock())
    camera._report_problems(("black",))
    assert camera.status.state == CameraState.CONNECTING
    camera._go_online()
    assert camera.status.state == CameraState.DEGRADED and camera.status.reason == "black picture"
