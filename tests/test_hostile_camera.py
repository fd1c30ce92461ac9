"""Hostile cameras beside a healthy one: garbage answers, a malformed SDP, a 1 MB header, a flood of
random RTP and interleaved frames whose lengths lie (tests/hostile/camera.py, its own process). The
gateway does not crash, the healthy camera keeps its frame rate and its recording, the API answers,
and each hostile camera is reported with a reason."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import pytest

from core.config import CameraConfig
from tests.fixtures_camera import free_port
from tests.gatewayutil import make_settings, running_gateway, until

pytestmark = pytest.mark.slow

MODES = ("garbage", "bad_sdp", "huge_header", "flood", "wrong_length")
HOSTILE = Path(__file__).parent / "hostile" / "camera.py"


@pytest.fixture
def hostile() -> Iterator[dict[str, int]]:
    """The hostile camera process: its port per mode."""
    ports = {mode: free_port() for mode in MODES}
    proc = subprocess.Popen([sys.executable, str(HOSTILE), *(f"{m}={p}" for m, p in ports.items())],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield ports
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.timeout(120)
async def test_hostile_cameras_hurt_nobody(tmp_path: Path, camera_server: Any, hostile: dict[str, int]) -> None:
    ports = hostile
    good = camera_server({"live": "ball"})
    cameras = [CameraConfig(id="good", source=good.url("live"))] + [
        CameraConfig(id=mode.replace("_", "-"), source=f"rtsp://127.0.0.1:{port}/cam", open_timeout_s=3,
                     read_timeout_s=3, stall_timeout_s=3, backoff={"initial_s": 0.5, "max_s": 2, "jitter": 0})
        for mode, port in ports.items()]
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cameras,
                             recording={"segment_s": 2, "min_free_bytes": 0})
    async with running_gateway(settings) as client:
        services = client.gateway.services
        assert services is not None
        await until(lambda: _async(services.cameras["good"].status.state.value == "online"), 20, "good online")
        began = datetime.now(UTC)
        worst = 0.0
        flagged: set[str] = set()
        deadline = time.monotonic() + 16
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            async with client.http.get(client.url("/livez")) as resp:
                assert resp.status == 200
            worst = max(worst, time.monotonic() - t0)
            for mode in MODES:
                # Down with its reason, or up with its picture flagged (random bytes: "undecodable").
                status = services.cameras[mode.replace("_", "-")].status
                if (status.state.value == "offline" and status.reason) or status.problems:
                    flagged.add(mode)
            await asyncio.sleep(0.25)
        assert worst < 0.5, f"/livez took {worst:.2f} s beside the hostile cameras"
        good_cam = services.cameras["good"]
        assert good_cam.status.state.value == "online", good_cam.status
        assert good_cam.stats.snapshot(services.clock.monotonic()).fps >= 20
        segments = await services.recorder.index.segments("good", began, datetime.now(UTC) + timedelta(seconds=1))
        assert len(segments) >= 5, f"the healthy camera sealed {len(segments)} segments in 16 s"
        # Each was reported: a reconnecting one looks up for the seconds before its first samples.
        assert flagged == set(MODES), set(MODES) - flagged


async def _async(value: bool) -> bool:
    return value
