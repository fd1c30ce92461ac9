"""A stalled viewer costs only itself: a frozen viewer process and a viewer that never connects
do not delay the other viewers' frames, nor the recording."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from core.config import CameraConfig
from tests.fixtures_camera import CameraServer
from tests.gatewayutil import make_settings, running_gateway
from tests.test_whep import FAST, Viewer, metrics, wait_online

HERE = Path(__file__).resolve().parent
WATCH_S = 8.0


async def _frame_times(viewer: Viewer, until: float) -> list[float]:
    track = await viewer.track
    times = []
    while time.monotonic() < until:
        await asyncio.wait_for(track.recv(), 3)
        times.append(time.monotonic())
    return times


@pytest.mark.timeout(120)
async def test_frozen_and_unconnected_viewers_do_not_slow_others_or_the_recording(
    tmp_path: Path, camera_server: Callable[..., CameraServer]
) -> None:
    server = camera_server({"live": "ball"})
    cams = [CameraConfig(id="gate", source=server.url("live"), **FAST)]
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cams,
                             recording={"segment_s": 2, "min_free_bytes": 0})
    async with running_gateway(settings) as client:
        token = await client.sign_in("admin", client.admin_password())
        await wait_online(client, token, "gate")
        services = client.gateway.services
        assert services is not None and services.recorder is not None

        # The stalled viewer: its own process, frozen with SIGSTOP once it decodes.
        frozen = await asyncio.create_subprocess_exec(
            sys.executable, str(HERE / "whep_viewer.py"), client.url("/whep/live/gate"), token,
            stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(HERE.parent)},
        )
        # A viewer that posts an offer and never applies the answer: its hub queue is never read.
        ghost = Viewer()
        viewers = [Viewer() for _ in range(3)]
        try:
            assert frozen.stdout is not None
            line = await asyncio.wait_for(frozen.stdout.readline(), 20)
            assert line.strip() == b"frame", line
            async with client.http.post(
                client.url("/whep/live/gate"), data=await ghost.offer(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"},
            ) as resp:
                assert resp.status == 201
            for v in viewers:
                await v.connect(client, "gate", token)
                await v.first_frame(within=5)
            frozen.send_signal(signal.SIGSTOP)

            sealed_before = services.recorder.state.sealed_total
            until = time.monotonic() + WATCH_S
            arrivals = await asyncio.gather(*(_frame_times(v, until) for v in viewers))
            sealed = services.recorder.state.sealed_total - sealed_before

            for times in arrivals:
                gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
                rate = (len(times) - 1) / (times[-1] - times[0])
                # The camera sends 25 fps; frames keep coming at its rate, without a stall.
                assert rate > 20, rate
                assert max(gaps) < 0.5, max(gaps)
            # Segments of 2 s keep being sealed on time (4 in 8 s; one may straddle the edges).
            assert sealed >= 3, sealed
            # The unread subscriber lost packets (drop-oldest), counted for the camera.
            text = await metrics(client)
            dropped = [ln for ln in text.splitlines() if ln.startswith('pantau_hub_dropped_packets_total{camera="gate"}')]
            assert dropped and float(dropped[0].split()[-1]) > 0, dropped
        finally:
            frozen.send_signal(signal.SIGCONT)
            frozen.kill()
            await frozen.wait()
            await asyncio.gather(ghost.close(), *(v.close() for v in viewers))
