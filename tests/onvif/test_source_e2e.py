"""An onvif:// camera through a running gateway: resolved by ONVIF, recorded, described, snapshotted."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.config import CameraConfig
from tests.fixtures_onvif import OnvifDevice
from tests.gatewayutil import Client, make_settings, running_gateway

SECRET = "Pl4nted-onvif-S3cret"
FAST = {"stall_timeout_s": 3.0, "read_timeout_s": 3.0, "open_timeout_s": 5.0,
        "backoff": {"initial_s": 0.5, "max_s": 1.0, "jitter": 0.1}}


def z(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


async def wait_for(client: Client, token: str, path: str, ok: Callable[[Any], bool], within: float) -> Any:
    deadline = time.monotonic() + within
    body: Any = None
    while time.monotonic() < deadline:
        body = await client.get_json(path, token)
        if ok(body):
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"{path} not as expected within {within} s: {body}")


@pytest.mark.timeout(120)
async def test_onvif_source_records_shows_device_snapshot_and_clock_drift(
    tmp_path: Path, onvif_device: Callable[..., OnvifDevice], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # 600 s off: WS-Security only works with the measured offset (ipycam allows 300 s).
    device = onvif_device(password=SECRET, clock_offset=600.0)
    cams = [CameraConfig(id="gate", source=device.source("sub"), **FAST)]
    settings = make_settings(
        tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cams,
        recording={"segment_s": 2, "min_free_bytes": 0},
    )
    began = datetime.now(UTC) - timedelta(minutes=1)
    async with running_gateway(settings) as client:
        token = await client.sign_in("admin", client.admin_password())
        cam = await wait_for(client, token, "/api/v1/cameras/gate",
                             lambda b: b["state"] in ("online", "degraded"), within=30)
        # Drift beyond the 5 s default limit: a health warning, while the stream flows.
        assert cam["state"] == "degraded", cam
        assert "clock_drift" in cam["problems"]
        assert re.search(r"camera clock (599|600|601) s ahead of ours \(limit 5 s\)", cam["reason"]), cam

        device_json = cam["device"]
        assert device_json["manufacturer"] == "IPyCam" and device_json["serial"] == device.serial
        assert device_json["profile"] == "Profile_Sub"
        assert [p["token"] for p in device_json["profiles"]] == ["Profile_Main", "Profile_Sub"]
        assert abs(device_json["clock_offset_s"] - 600) < 2
        assert cam["source"] == f"onvif://***@127.0.0.1:{device.port}/?profile=sub"
        assert cam["stats"]["codec"] == "h264"

        health = await client.get_json("/health", token)
        checks = health["checks"]["camera:clock_drift"]
        assert any(c["componentId"] == "gate" and c["status"] == "warn" for c in checks)

        # The camera's own snapshot (ipycam's test card), not the decoded keyframe.
        async with client.http.get(client.url("/api/v1/cameras/gate/snapshot.jpg"),
                                   headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200
            jpeg = await resp.read()
        assert jpeg.startswith(b"\xff\xd8\xff")

        window = f"start={z(began)}&end={z(began + timedelta(hours=1))}"
        rec = await wait_for(client, token, f"/api/v1/recordings?camera=gate&{window}",
                             lambda b: len(b["segments"]) >= 2, within=40)
        assert all(s["bytes"] > 10_000 for s in rec["segments"])

        outputs = []
        for path in ("/api/v1/cameras", "/api/v1/cameras/gate", "/api/v1/cameras/gate/history",
                     "/health", "/metrics", f"/api/v1/recordings?camera=gate&{window}"):
            async with client.http.get(client.url(path), headers={"Authorization": f"Bearer {token}"}) as resp:
                outputs.append(await resp.text())
    assert SECRET not in "\n".join(outputs) + caplog.text
