"""Camera against the real GStreamer test camera: online, stats, outages, stalls, cancellation."""

from __future__ import annotations

import asyncio
import threading
import time

import cv2
import numpy as np
import pytest

from streams.packet import MediaPacket, StreamChange
from streams.keyframe import decode_keyframe
from streams.snapshot import keyframe_jpeg
from streams.state import CameraState
from tests.fixtures_camera import CameraServer, SilentCamera
from tests.streams.camera_helpers import make_camera, running, wait_until


def camera_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("camera-")]


@pytest.mark.parametrize("transport", ["tcp", "udp"])
async def test_online_stats_and_decodable_first_keyframe(camera_server, transport: str) -> None:  # type: ignore[no-untyped-def]
    server: CameraServer = camera_server({"live": "ball"})
    camera, statuses = make_camera(server.url("live"), transport=transport)
    async with running(camera):
        await wait_until(lambda: camera.status.state == CameraState.ONLINE, 5, "online")
        online_at = time.monotonic()
        assert [s.state for s in statuses[:2]] == [CameraState.CONNECTING, CameraState.ONLINE]
        async with camera.hub.subscribe("test") as sub:
            first = await asyncio.wait_for(sub.get(), 2)
            assert isinstance(first, StreamChange) and first.streams[0].codec == "h264"
            packets: list[MediaPacket] = []
            while len(packets) < 60:
                item = await asyncio.wait_for(sub.get(), 2)
                assert isinstance(item, MediaPacket)
                packets.append(item)
        assert packets[0].is_keyframe
        image = decode_keyframe(first.streams[0], packets[0])
        assert image is not None
        assert image.shape == (360, 640, 3)
        snap = camera.stats.snapshot(time.monotonic())
        assert (snap.codec, snap.width, snap.height) == ("h264", 640, 360)
        assert 100_000 < snap.bitrate_bps < 5_000_000
        assert snap.last_packet_age_s is not None and snap.last_packet_age_s < 0.5
        assert snap.reconnects == 0
        # The server bursts its backlog on connect; the rates must not count it as speed.
        await asyncio.sleep(max(0.0, 1.5 - (time.monotonic() - online_at)))
        snap = camera.stats.snapshot(time.monotonic())
        assert 22 <= snap.fps <= 28
        assert 200_000 < snap.bitrate_bps < 3_000_000
        if transport == "tcp":
            # Needs two keyframes with timestamps: the first RTSP packet has none.
            await wait_until(lambda: camera.stats.keyframe_interval_s is not None, 5, "keyframe interval")
            assert camera.stats.keyframe_interval_s == pytest.approx(2.0, abs=0.05)
        jpeg = await keyframe_jpeg(camera.hub)
        assert jpeg is not None and jpeg[:2] == b"\xff\xd8"
        decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert decoded is not None and decoded.shape == (360, 640, 3)


async def test_server_killed_goes_offline_and_comes_back(camera_server) -> None:  # type: ignore[no-untyped-def]
    server: CameraServer = camera_server({"live": "ball"})
    camera, statuses = make_camera(server.url("live"))
    async with running(camera):
        await wait_until(lambda: camera.status.state == CameraState.ONLINE, 5, "online")
        sub = camera.hub.subscribe("watcher", maxsize=1000)
        server.stop()
        took = await wait_until(lambda: camera.status.state == CameraState.OFFLINE, 2.5, "offline")
        assert took <= camera.config.stall_timeout_s + 0.5
        assert camera.status.reason and camera.status.next_retry_at is not None
        assert camera.hub.streams == () and camera.hub.latest_keyframe() is None
        await asyncio.sleep(1.5)  # a few failed retries against the dead port
        assert camera.status.state in (CameraState.OFFLINE, CameraState.CONNECTING)
        assert max(s.attempt for s in statuses) >= 2
        server.start()
        await wait_until(lambda: camera.status.state == CameraState.ONLINE, 5, "back online")
        await wait_until(
            lambda: camera.stats.packets_total > 0 and camera.hub.latest_keyframe() is not None, 2
        )
        changes = []
        while (item := sub._next_nowait()) is not None:
            if isinstance(item, StreamChange):
                changes.append(item)
        sub.close()
        assert [bool(c.streams) for c in changes] == [True, False, True]
        assert camera.stats.snapshot(time.monotonic()).reconnects == 1
    assert camera_threads() == []


async def test_frozen_server_trips_the_stall_watchdog(camera_server) -> None:  # type: ignore[no-untyped-def]
    server: CameraServer = camera_server({"live": "ball"})
    # read_timeout above the stall timeout: the watchdog, not PyAV, must notice.
    camera, _ = make_camera(server.url("live"), stall_timeout_s=1.0, read_timeout_s=3.0)
    async with running(camera):
        await wait_until(lambda: camera.status.state == CameraState.ONLINE, 5, "online")
        server.pause()
        try:
            took = await wait_until(lambda: camera.status.state == CameraState.OFFLINE, 2.0, "offline")
            assert camera.status.reason == "stalled: no packet for 1 s"
            assert took < 1.8
        finally:
            server.resume()
        await wait_until(lambda: camera.status.state == CameraState.ONLINE, 8, "back online")


async def test_silent_camera_does_not_delay_a_healthy_one(camera_server, silent_camera: SilentCamera) -> None:  # type: ignore[no-untyped-def]
    server: CameraServer = camera_server({"live": "ball"})
    healthy, _ = make_camera(server.url("live"), cam_id="healthy")
    silent, silent_statuses = make_camera(silent_camera.url(), cam_id="silent", open_timeout_s=1.0)
    async with running(healthy), running(silent):
        await wait_until(lambda: healthy.status.state == CameraState.ONLINE, 5, "online")
        gaps: list[float] = []
        lags: list[float] = []
        loop = asyncio.get_running_loop()

        async def ticker() -> None:
            while True:
                before = loop.time()
                await asyncio.sleep(0.01)
                lags.append(loop.time() - before - 0.01)

        tick = asyncio.create_task(ticker())
        async with healthy.hub.subscribe("gaps") as sub:
            last = None
            end = loop.time() + 3.5
            while loop.time() < end:
                item = await asyncio.wait_for(sub.get(), 1)
                now = loop.time()
                if isinstance(item, MediaPacket):
                    if last is not None:
                        gaps.append(now - last)
                    last = now
        tick.cancel()
        assert sum(s.state == CameraState.OFFLINE for s in silent_statuses) >= 2
        offline = [s for s in silent_statuses if s.state == CameraState.OFFLINE]
        assert offline[0].reason.endswith("open timed out after 1 s")
    assert len(gaps) > 70
    # 25 fps = 40 ms apart; the network and the loop add jitter, never a stall.
    assert max(gaps) < 0.25, sorted(gaps)[-5:]
    assert max(lags) < 0.1


async def test_cancel_is_prompt_and_leaves_no_thread(camera_server, silent_camera: SilentCamera) -> None:  # type: ignore[no-untyped-def]
    server: CameraServer = camera_server({"live": "ball"})
    before = set(threading.enumerate())
    camera, _ = make_camera(server.url("live"))
    task = asyncio.create_task(camera.run())
    await wait_until(lambda: camera.stats.packets_total > 10, 5, "packets")
    start = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - start < 0.5
    assert camera_threads() == []
    # A camera stuck in open is bounded by its open timeout.
    stuck, _ = make_camera(silent_camera.url(), cam_id="stuck", open_timeout_s=1.0)
    task = asyncio.create_task(stuck.run())
    await wait_until(lambda: bool(camera_threads()), 2, "thread started")
    await asyncio.sleep(0.2)
    start = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - start < 1.5
    assert camera_threads() == []
    # The loop's default executor (asyncio_N, used by health decodes) is the loop's to
    # reap; anything else new would be a leak.
    new = {t for t in set(threading.enumerate()) - before if not t.name.startswith("asyncio_")}
    assert new == set()


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_read_times_out_on_a_camera_that_stops_sending(camera_server, transport: str) -> None:  # type: ignore[no-untyped-def]
    """libav's socket timeout (not PyAV's GIL-taking callback) ends a read on a silent camera."""
    import time

    from core.config import CameraConfig
    from core.errors import SourceTimeout
    from streams.rtsp import RtspSource

    server = camera_server({"live": "ball"})
    source = RtspSource(
        CameraConfig(id="cam", source=server.url("live"), transport=transport, read_timeout_s=1.5)
    )
    source.open()
    try:
        for _ in range(10):
            assert source.read() is not None
        server.pause()  # the process stops: no packet, no FIN, no RST
        started = time.monotonic()
        with pytest.raises(SourceTimeout) as info:
            for _ in range(1000):  # packets already buffered come first
                source.read()
        took = time.monotonic() - started
        assert 1.2 <= took <= 4.0, took
        assert "timed out" in str(info.value)
    finally:
        server.resume()
        source.close()
