"""Onboarding: an admin adds a camera through the API; it starts and records without a restart,
is logged as a configuration change, and is still there after a restart."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.http.onboarding import onvif_source
from core.errors import BadRequest
from tests.fixtures_camera import CameraServer
from tests.gatewayutil import Client, make_settings, running_gateway

PASSWORD = "s3cret-planted-pw"


async def _post(client: Client, token: str, body: Any) -> tuple[int, Any]:
    async with client.http.post(client.url("/api/v1/cameras"), json=body,
                                headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.json(content_type=None)


async def _until(what: str, within: float, check: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {within} s")
        await asyncio.sleep(0.25)


@pytest.mark.timeout(120)
async def test_admin_adds_a_camera_it_records_at_once_and_survives_a_restart(
    tmp_path: Path, db_url: str, camera_server: Callable[..., CameraServer]
) -> None:
    server = camera_server({"added": "ball"})
    settings = make_settings(tmp_path, db_url, recording={"segment_s": 2, "min_free_bytes": 0})
    source = server.url("added", credentials=f"cam:{PASSWORD}")
    now = datetime.now(UTC)
    day_ago, day_ahead = ((now + timedelta(days=d)).isoformat().replace("+00:00", "Z") for d in (-1, 1))
    async with running_gateway(settings) as client:
        admin = await client.sign_in("admin", client.admin_password())
        status, body = await _post(client, admin, {"id": "lobby", "name": "Lobby", "source": source,
                                                   "groups": ["indoor"]})
        assert status == 201, body
        assert body["id"] == "lobby" and PASSWORD not in json.dumps(body)

        async def online() -> bool:
            cam = await client.get_json("/api/v1/cameras/lobby", admin)
            return bool(cam["state"] == "online")

        await _until("the added camera online", 30, online)

        async def recorded() -> list[Any]:
            rec = await client.get_json(f"/api/v1/recordings?camera=lobby&start={day_ago}&end={day_ahead}", admin)
            return list(rec["segments"])

        segments = await _until("a sealed segment of the added camera", 40, recorded)
        assert segments[0]["sha256"]

        # Taken id, bad key, wrong role, wrong body type: refused with the right status.
        assert (await _post(client, admin, {"id": "lobby", "source": source}))[0] == 409
        status, body = await _post(client, admin, {"id": "bad", "source": source, "colour": "red"})
        assert status == 422 and "colour" in body["detail"] and PASSWORD not in json.dumps(body)
        status, body = await _post(client, admin, {"id": "Bad Id!", "source": source})
        assert status == 422 and "id" in body["detail"]
        status, _ = await _post(client, admin, {"id": "x", "source": "file:///etc/passwd"})
        assert status == 422
        async with client.http.post(client.url("/api/v1/cameras"), data="id=x",
                                    headers={"Authorization": f"Bearer {admin}",
                                             "Content-Type": "application/x-www-form-urlencoded"}) as resp:
            assert resp.status == 415

        log = await client.get_json("/api/v1/access-log?action=config_changed", admin)
        added = [e["payload"] for e in log["entries"] if e["payload"].get("camera") == "lobby"]
        assert len(added) == 1 and added[0]["actor"] == "admin", log
        assert PASSWORD not in json.dumps(log)

    async with running_gateway(settings) as client:
        admin = await client.sign_in("admin", client.admin_password())
        cams = await client.get_json("/api/v1/cameras", admin)
        assert [c["id"] for c in cams["cameras"]] == ["lobby"]
        assert cams["cameras"][0]["groups"] == ["indoor"]


async def test_only_admins_add_cameras(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    async with running_gateway(settings) as client:
        admin = await client.sign_in("admin", client.admin_password())
        gateway = client.gateway
        assert gateway.services is not None
        await gateway.services.users.add("olga", "operator", "operator-password-1")
        operator = await client.sign_in("olga", "operator-password-1")
        status, body = await _post(client, operator, {"id": "cam", "source": "rtsp://127.0.0.1:9/x"})
        assert status == 403, body
        async with client.http.post(client.url("/api/v1/cameras"), json={"id": "cam"}) as resp:
            assert resp.status == 401
        denials = await client.get_json("/api/v1/access-log?outcome=deny", admin)
        assert any(e["payload"]["actor"] == "olga" for e in denials["entries"])
        assert (await client.get_json("/api/v1/cameras", admin))["cameras"] == []


def test_onvif_address_becomes_an_onvif_source() -> None:
    assert onvif_source({"address": "192.0.2.7", "username": "admin", "password": "p@ss:word"}) == (
        "onvif://admin:p%40ss%3Aword@192.0.2.7:80/?profile=main"
    )
    assert onvif_source({"address": "http://192.0.2.7:8000/onvif/device_service", "profile": "sub"}) == (
        "onvif://192.0.2.7:8000/?profile=sub"
    )
    assert onvif_source({"address": "https://[2001:db8::1]/onvif/device_service"}) == (
        "onvif://[2001:db8::1]:443/?profile=main"
    )
    for bad in ({"address": "ftp://x"}, {"address": "http://u:p@x"}, {"address": "x", "colour": "red"},
                {"username": "a"}, "x", {"address": 7}, {"address": "host:99999"}):
        with pytest.raises(BadRequest):
            onvif_source(bad)
