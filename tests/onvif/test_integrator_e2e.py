"""Issue 5's acceptance, through the gateway's HTTP API only: an integrator finds a camera by
discovery and adds it by its ONVIF address alone; Pantau records it; an operator sends it to a
preset; a second ONVIF camera's tamper alarm shows as an event and on the camera's health."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_camera import CameraServer
from tests.fixtures_onvif import OnvifDevice
from tests.gatewayutil import Client, make_settings, running_gateway
from tests.onvif.soap_replay import EventDevice
from tests.onvif.test_events_http import FAST, until
from tests.onvif.test_ptz_http import call


async def _add(client: Client, admin: str, body: dict[str, Any]) -> dict[str, Any]:
    status, camera = await call(client, "POST", "/api/v1/cameras", admin, body)
    assert status == 201, camera
    return dict(camera)


@pytest.mark.timeout(150)
async def test_integrator_adds_by_address_pantau_records_operator_goes_to_preset_tamper_shows(
    tmp_path: Path, onvif_device: Callable[..., OnvifDevice], camera_server: Callable[..., CameraServer]
) -> None:
    dome = onvif_device()
    events_camera = camera_server({"main": "ball"})
    async with EventDevice(stream_uri=events_camera.url("main")) as alarm_device:
        settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}",
                                 recording={"segment_s": 2, "min_free_bytes": 0}, events=FAST)
        async with running_gateway(settings) as client:
            services = client.gateway.services
            assert services is not None
            await services.users.add("omar", "operator", "omar-password-1")
            admin = await client.sign_in("admin", client.admin_password())
            omar = await client.sign_in("omar", "omar-password-1")

            # Discovery names the device; its address and credentials are all the integrator gives.
            # 3 s per step: the fake camera answers in milliseconds, but a loaded CI machine took over 1 s.
            payload = {"timeout": 3, "targets": [f"127.0.0.1:{dome.discovery_port}"],
                       "username": dome.user, "password": dome.password}
            status, found = await call(client, "POST", "/api/v1/onvif/discover", admin, payload)
            assert status == 200, found
            [device] = found["devices"]
            added = await _add(client, admin, {"id": "dome", "name": "Dome", "onvif": {
                "address": device["address"], "username": dome.user, "password": dome.password}})
            assert dome.password not in str(added)

            async def recorded() -> bool:
                now = datetime.now(UTC)
                window = f"start={(now - timedelta(hours=1)).isoformat()}&end={(now + timedelta(hours=1)).isoformat()}"
                body = await client.get_json(f"/api/v1/recordings?camera=dome&{window.replace('+', '%2B')}", admin)
                return bool(body["segments"])

            await until(recorded, within=60)
            detail = await client.get_json("/api/v1/cameras/dome", omar)
            assert detail["device"]["model"] == device["model"]

            # A preset set by the room, then the operator's request to go there.
            base = "/api/v1/cameras/dome/ptz"
            assert (await call(client, "POST", f"{base}/move", omar,
                               {"mode": "absolute", "pan": -0.4, "tilt": 0.2, "zoom": 0.1}))[0] == 204
            status, preset = await call(client, "POST", f"{base}/presets", omar, {"name": "car park"})
            assert status == 201, preset
            assert (await call(client, "POST", f"{base}/home", omar))[0] == 204
            assert (await call(client, "POST", f"{base}/presets/{preset['token']}/goto", omar))[0] == 204
            _, info = await call(client, "GET", base, omar)
            assert (info["status"]["pan"], info["status"]["tilt"]) == (-0.4, 0.2)
            ptz_entries = (await client.get_json("/api/v1/access-log?action=ptz&limit=100", admin))["entries"]
            assert any(e["payload"]["actor"] == "omar" and e["payload"]["camera"] == "dome" for e in ptz_entries)

            # The second camera, also added by address: its tamper alarm reaches events and health.
            await _add(client, admin, {"id": "yard", "onvif": {
                "address": f"{alarm_device.host}:{alarm_device.port}", "username": alarm_device.user,
                "password": alarm_device.password}, "record": False})
            await alarm_device.wait_for(lambda: alarm_device.live == 1, within=20)
            alarm_device.push("tamper")

            async def tampered() -> bool:
                events = (await client.get_json("/api/v1/events?camera=yard&kind=tamper", omar))["events"]
                cam = await client.get_json("/api/v1/cameras/yard", omar)
                return bool(events) and events[0]["active"] and "tamper" in cam["problems"]

            await until(tampered, within=20)
            added_log = (await client.get_json("/api/v1/access-log?action=config_changed", admin))["entries"]
            assert {e["payload"].get("camera") for e in added_log} >= {"dome", "yard"}
