"""Cameras through a running gateway: real GStreamer camera, real HTTP, real database."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from core.config import CameraConfig
from gateway.app import with_demo
from tests.fixtures_camera import CameraServer, SilentCamera
from tests.gatewayutil import Client, make_settings, running_gateway

SECRET = "Pl4ntedS3cret"
FAST = {"stall_timeout_s": 2.0, "read_timeout_s": 2.0, "open_timeout_s": 3.0,
        "backoff": {"initial_s": 0.5, "max_s": 1.0, "jitter": 0.1}}


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"


async def wait_state(
    client: Client, token: str, camera: str, state: str, within: float
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = await client.get_json(f"/api/v1/cameras/{camera}", token)
        if body["state"] == state:
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"{camera} not {state} within {within} s: {body}")


async def test_camera_online_with_stats_health_metrics_and_snapshot(
    tmp_path: Path, db_url: str, camera_server: Callable[..., CameraServer]
) -> None:
    server = camera_server({"live": "ball"})
    cams = [CameraConfig(id="gate-north", name="North gate", source=server.url("live"), **FAST)]
    async with running_gateway(make_settings(tmp_path, db_url, cams)) as client:
        token = await client.sign_in("admin", client.admin_password())
        started = time.monotonic()
        await wait_state(client, token, "gate-north", "online", within=5)
        assert time.monotonic() - started < 5
        await asyncio.sleep(2.5)  # let the rate windows fill
        cam = await client.get_json("/api/v1/cameras/gate-north", token)
        stats = cam["stats"]
        assert stats["codec"] == "h264"
        assert (stats["width"], stats["height"]) == (640, 360)
        assert 20 <= stats["fps"] <= 30
        assert stats["bitrate_bps"] > 100_000
        assert stats["last_packet_age_s"] < 1
        assert cam["source"] == server.url("live")
        listing = await client.get_json("/api/v1/cameras", token)
        assert [c["id"] for c in listing["cameras"]] == ["gate-north"]

        async with client.http.get(client.url("/health")) as resp:
            assert resp.status == 200 and resp.content_type == "application/health+json"
            health = await resp.json(content_type=None)
        assert health["status"] == "pass", health
        # Keys are component:measurement; the camera is the entry's componentId.
        assert [(c["componentId"], c["status"]) for c in health["checks"]["camera:state"]] == [("gate-north", "pass")]
        assert health["checks"]["camera:lastPacketAge"][0]["componentId"] == "gate-north"
        assert not any(key.startswith("camera:gate") for key in health["checks"])
        assert health["releaseId"]
        assert health["checks"]["database:responseTime"][0]["status"] == "pass"

        async with client.http.get(client.url("/metrics")) as resp:
            metrics = await resp.text()
        assert 'pantau_camera_up{camera="gate-north"} 1.0' in metrics
        assert 'pantau_camera_state{camera="gate-north",state="online"} 1.0' in metrics
        assert "pantau_camera_received_bytes_total" in metrics
        assert "\nprocess_resident_memory_bytes " in metrics  # the exporters' usual name, no prefix
        assert 'pantau_build_info{version="' in metrics
        assert "# TYPE pantau_seal_latency_seconds histogram" in metrics

        async with client.http.get(
            client.url("/api/v1/cameras/gate-north/snapshot.jpg"), headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            assert resp.status == 200 and resp.content_type == "image/jpeg"
            jpeg = await resp.read()
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape == (360, 640, 3)

        history = await client.get_json("/api/v1/cameras/gate-north/history", token)
        states = [t["state"] for t in history["transitions"]]
        assert states[0] == "online" and "connecting" in states


async def test_camera_goes_offline_when_killed_and_returns(
    tmp_path: Path, camera_server: Callable[..., CameraServer]
) -> None:
    server = camera_server({"live": "ball"})
    cams = [CameraConfig(id="cam", source=server.url("live"), **FAST)]
    async with running_gateway(make_settings(tmp_path, sqlite_url(tmp_path), cams)) as client:
        token = await client.sign_in("admin", client.admin_password())
        await wait_state(client, token, "cam", "online", within=5)
        server.stop()
        killed = time.monotonic()
        offline = await wait_state(client, token, "cam", "offline", within=2.0 + 2.0)
        assert time.monotonic() - killed <= 2.0 + 1.5  # stall timeout plus one watchdog tick
        assert offline["reason"]
        assert offline["attempt"] >= 1 and offline["next_retry_at"] is not None
        await asyncio.to_thread(server.start)
        back = time.monotonic()
        await wait_state(client, token, "cam", "online", within=5)
        assert time.monotonic() - back < 5
        cam = await client.get_json("/api/v1/cameras/cam", token)
        assert cam["stats"]["reconnects"] >= 1
        history = await client.get_json("/api/v1/cameras/cam/history", token)
        states = [t["state"] for t in history["transitions"]]
        assert states[:2] == ["online", "connecting"] and "offline" in states


async def test_silent_camera_delays_neither_healthy_camera_nor_api(
    tmp_path: Path, camera_server: Callable[..., CameraServer], silent_camera: SilentCamera
) -> None:
    server = camera_server({"live": "ball"})
    cams = [
        CameraConfig(id="silent", source=silent_camera.url(), **{**FAST, "open_timeout_s": 4.0}),
        CameraConfig(id="healthy", source=server.url("live"), **FAST),
    ]
    async with running_gateway(make_settings(tmp_path, sqlite_url(tmp_path), cams)) as client:
        token = await client.sign_in("admin", client.admin_password())
        await wait_state(client, token, "healthy", "online", within=5)
        worst_livez = 0.0
        packets_before = (await client.get_json("/api/v1/cameras/healthy", token))["stats"]["packets_total"]
        for _ in range(40):  # 4 s, across the silent camera's open timeout
            t0 = time.monotonic()
            async with client.http.get(client.url("/livez")) as resp:
                assert resp.status == 200
            worst_livez = max(worst_livez, time.monotonic() - t0)
            await asyncio.sleep(0.1)
        healthy = await client.get_json("/api/v1/cameras/healthy", token)
        silent = await client.get_json("/api/v1/cameras/silent", token)
        assert worst_livez < 0.25, worst_livez
        assert healthy["state"] == "online"
        assert healthy["stats"]["packets_total"] - packets_before > 60  # ~25 fps kept flowing
        assert healthy["stats"]["last_packet_age_s"] < 0.5
        assert silent["state"] in ("connecting", "offline")
        assert len(silent_camera.connections) >= 1


async def test_credentials_never_leak_into_api_metrics_or_logs(
    tmp_path: Path, camera_server: Callable[..., CameraServer], silent_camera: SilentCamera,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    server = camera_server({"live": "ball"})
    creds = f"admin:{SECRET}"
    cams = [
        CameraConfig(id="good", source=server.url("live", creds), **FAST),
        CameraConfig(id="gone", source=f"rtsp://{creds}@127.0.0.1:1/nothing", **FAST),
        CameraConfig(id="mute", source=silent_camera.url("x", creds), **{**FAST, "open_timeout_s": 1.0}),
    ]
    async with running_gateway(make_settings(tmp_path, sqlite_url(tmp_path), cams)) as client:
        token = await client.sign_in("admin", client.admin_password())
        await wait_state(client, token, "good", "online", within=5)
        await wait_state(client, token, "gone", "offline", within=5)
        await asyncio.sleep(2.5)  # the silent one times out at least once
        outputs = []
        for path in ("/api/v1/cameras", "/api/v1/cameras/good", "/api/v1/cameras/gone",
                     "/api/v1/cameras/mute", "/api/v1/cameras/gone/history", "/health", "/metrics"):
            async with client.http.get(client.url(path), headers={"Authorization": f"Bearer {token}"}) as resp:
                outputs.append(await resp.text())
        good = await client.get_json("/api/v1/cameras/good", token)
        assert good["source"] == f"rtsp://***@127.0.0.1:{server.port}/live"
    everything = "\n".join(outputs) + caplog.text
    assert "gone" in everything and "mute" in everything
    assert SECRET not in everything


async def test_unknown_camera_and_bad_parameters(tmp_path: Path) -> None:
    async with running_gateway(make_settings(tmp_path, sqlite_url(tmp_path))) as client:
        token = await client.sign_in("admin", client.admin_password())
        for path, status in [
            ("/api/v1/cameras/nope", 404),
            ("/api/v1/cameras/..%2F..%2Fetc%2Fpasswd", 404),
            ("/api/v1/cameras/nope/snapshot.jpg", 404),
            ("/static/../gateway/app.py", 404),
        ]:
            async with client.http.get(client.url(path), headers={"Authorization": f"Bearer {token}"}) as resp:
                assert resp.status in (status, 403), (path, resp.status)
                assert resp.content_type == "application/problem+json", path
        async with client.http.put(client.url("/api/v1/cameras"), headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 405 and resp.content_type == "application/problem+json"


async def test_history_filters(tmp_path: Path) -> None:
    cams = [CameraConfig(id="lobby", source="demo://pattern", enabled=False)]
    async with running_gateway(make_settings(tmp_path, sqlite_url(tmp_path), cams)) as client:
        token = await client.sign_in("admin", client.admin_password())
        await client.get_json("/api/v1/cameras/lobby/history?start=yesterday", token, status=400)
        await client.get_json("/api/v1/cameras/lobby/history?start=2026-01-01T00:00:00", token, status=400)
        await client.get_json("/api/v1/cameras/lobby/history?limit=x", token, status=400)
        body = await client.get_json("/api/v1/cameras/lobby/history?start=2026-01-01T00:00:00Z", token)
        assert body["camera"] == "lobby"


async def test_demo_mode_shows_a_live_synthetic_camera(tmp_path: Path) -> None:
    settings = with_demo(make_settings(tmp_path, sqlite_url(tmp_path)))
    async with running_gateway(settings) as client:
        token = await client.sign_in("admin", client.admin_password())
        cam = await wait_state(client, token, "demo", "online", within=8)
        assert cam["source"] == "demo://pattern"
        async with client.http.get(client.url("/health")) as resp:
            health = await resp.json(content_type=None)
        assert "demo" in {c["componentId"] for c in health["checks"]["camera:state"]}
        async with client.http.get(
            client.url("/api/v1/cameras/demo/snapshot.jpg"), headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            assert resp.status == 200
            assert cv2.imdecode(np.frombuffer(await resp.read(), np.uint8), cv2.IMREAD_COLOR) is not None
