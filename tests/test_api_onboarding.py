"""Onboarding: an admin adds a camera through the API; it starts and records without a restart,
is logged as a configuration change, and is still there after a restart."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from gateway.http.onboarding import onvif_source
from core.errors import BadRequest
from core.db import make_engine
from core.config import CameraConfig
from tests.fixtures_camera import CameraServer
from tests.gatewayutil import Client, make_settings, running_gateway, until
from tests.test_whep import FAST, Viewer

PASSWORD = "s3cret-planted-pw"


async def _post(client: Client, token: str, body: Any) -> tuple[int, Any]:
    async with client.http.post(client.url("/api/v1/cameras"), json=body,
                                headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.json(content_type=None)


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

        await until(online, 30, "the added camera online")

        async def recorded() -> list[Any]:
            rec = await client.get_json(f"/api/v1/recordings?camera=lobby&start={day_ago}&end={day_ahead}", admin)
            return list(rec["segments"])

        segments = await until(recorded, 40, "a sealed segment of the added camera")
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

    # The stored row holds no password (sealed with data_dir's camera-secrets.key), and a row kept
    # plain by an older version is sealed at the next start.
    engine = make_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            [stored] = (await conn.execute(text("SELECT config FROM onboarded_cameras"))).scalars().all()
            assert stored.startswith("sealed:v1:") and PASSWORD not in stored
            await conn.execute(text("INSERT INTO onboarded_cameras (id, config, created_at, created_by) "
                                    "VALUES ('old', :config, :at, 'admin')"),
                               {"config": json.dumps({"id": "old", "source": server.url("added", f"cam:{PASSWORD}"),
                                                      "enabled": False}), "at": now})
    finally:
        await engine.dispose()

    async with running_gateway(settings) as client:
        admin = await client.sign_in("admin", client.admin_password())
        cams = await client.get_json("/api/v1/cameras", admin)
        assert sorted(c["id"] for c in cams["cameras"]) == ["lobby", "old"]
        assert next(c for c in cams["cameras"] if c["id"] == "lobby")["groups"] == ["indoor"]
    engine = make_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT config FROM onboarded_cameras"))).scalars().all()
        assert len(rows) == 2 and all(r.startswith("sealed:v1:") and PASSWORD not in r for r in rows)
    finally:
        await engine.dispose()


async def _patch(client: Client, token: str, camera: str, body: Any) -> tuple[int, Any]:
    async with client.http.patch(client.url(f"/api/v1/cameras/{camera}"), json=body,
                                 headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.json(content_type=None)


@pytest.mark.timeout(180)
async def test_admin_changes_an_onboarded_camera_while_it_runs_and_nothing_recorded_is_lost(
    tmp_path: Path, db_url: str, camera_server: Callable[..., CameraServer]
) -> None:
    """The integrator typed the wrong stream: PATCH moves the camera to the right one without a
    restart. The old source's open segment is sealed, its viewers are told why their session
    ended, the new source records at once, the change is logged without the password, and
    `enabled: false` takes a camera out of service while its recordings stay."""
    first = camera_server({"cam": "ball"})
    second = camera_server({"cam": "snow"}, size="320x240")
    configured = CameraConfig(id="gate", source=first.url("cam"), **FAST)
    settings = make_settings(tmp_path, db_url, [configured], recording={"segment_s": 2, "min_free_bytes": 0})
    now = datetime.now(UTC)
    day_ago, day_ahead = ((now + timedelta(days=d)).isoformat().replace("+00:00", "Z") for d in (-1, 1))
    async with running_gateway(settings) as client:
        admin = await client.sign_in("admin", client.admin_password())
        status, body = await _post(client, admin, {"id": "lobby", "name": "Lobby", "groups": ["indoor"],
                                                   "source": first.url("cam", credentials=f"cam:{PASSWORD}")})
        assert status == 201, body

        async def segments() -> list[dict[str, Any]]:
            rec = await client.get_json(f"/api/v1/recordings?camera=lobby&start={day_ago}&end={day_ahead}", admin)
            return list(rec["segments"])

        await until(segments, 40, "a sealed segment of the first source")
        viewer = Viewer()
        try:
            await viewer.connect(client, "lobby", admin)
            await viewer.first_frame(within=5)
            before = await segments()

            status, body = await _patch(client, admin, "lobby", {
                "name": "Lobby East", "source": second.url("cam", credentials=f"cam:{PASSWORD}")})
            assert status == 200, body
            assert body["name"] == "Lobby East" and body["groups"] == ["indoor"], body
            assert f":{second.port}/" in body["source"] and PASSWORD not in json.dumps(body)

            async def viewer_told() -> list[Any]:
                stops = await client.get_json("/api/v1/access-log?action=live_stop", admin)
                return [e for e in stops["entries"] if e["payload"]["camera"] == "lobby"]

            stops = await until(viewer_told, 10, "the old source's viewer session ended")
            assert "reconfigured" in stops[0]["payload"]["reason"], stops
        finally:
            await viewer.close()

        async def from_second() -> list[dict[str, Any]]:
            return [s for s in await segments() if s["width"] == 320]

        await until(from_second, 40, "a sealed segment of the second source")
        after = await segments()
        old = [s for s in after if s["width"] == 640]
        # Every segment sealed before the change is still there, the one open then was sealed too.
        assert {s["sha256"] for s in before} <= {s["sha256"] for s in old}, (before, old)
        assert len(old) >= len(before) and all(s["sha256"] for s in after)
        rec = await client.get_json(f"/api/v1/recordings?camera=lobby&start={day_ago}&end={day_ahead}", admin)
        assert [g["reason"] for g in rec["gaps"]] == ["camera changed"], rec["gaps"]

        # Refusals: a config-file camera, another id, an unknown key, no camera, not an admin.
        status, body = await _patch(client, admin, "gate", {"name": "Gate"})
        assert status == 409 and "config file" in body["detail"], body
        assert (await _patch(client, admin, "lobby", {"id": "foyer"}))[0] == 400
        status, body = await _patch(client, admin, "lobby", {"colour": "red"})
        assert status == 422 and "colour" in body["detail"], body
        assert (await _patch(client, admin, "nope", {"name": "x"}))[0] == 404
        # No setting shortens a camera's recordings under recording.min_retention_days (30 by default).
        status, body = await _patch(client, admin, "lobby", {"retention_days": 0.001})
        assert status == 422 and "min_retention_days" in body["detail"], body
        assert (await _patch(client, admin, "lobby", ["name"]))[0] == 400
        services = client.gateway.services
        assert services is not None
        await services.users.add("olga", "operator", "operator-password-1")
        operator = await client.sign_in("olga", "operator-password-1")
        assert (await _patch(client, operator, "lobby", {"enabled": False}))[0] == 403
        cam = await client.get_json("/api/v1/cameras/lobby", admin)
        assert (cam["name"], cam["enabled"], cam["origin"]) == ("Lobby East", True, "api"), cam

        # Two changes at once: neither is lost. A change to what it already is: nothing happens.
        both = await asyncio.gather(_patch(client, admin, "lobby", {"groups": ["indoor", "east"]}),
                                    _patch(client, admin, "lobby", {"retention_days": 30}))
        assert [status for status, _ in both] == [200, 200], both
        assert (await _patch(client, admin, "lobby", {"name": "Lobby East"}))[0] == 200
        cam = await client.get_json("/api/v1/cameras/lobby", admin)
        assert cam["groups"] == ["indoor", "east"], cam
        assert services.camera_store is not None
        stored = await services.camera_store.get("lobby")
        assert stored is not None and stored.retention_days == 30 and stored.groups == ["indoor", "east"]
        assert (await client.get_json("/api/v1/cameras/gate", admin))["origin"] == "config"

        # Out of service: it stops and records no more, and what it recorded stays listed.
        status, body = await _patch(client, admin, "lobby", {"enabled": False})
        assert status == 200 and body["state"] == "disabled", body
        held = await segments()
        await asyncio.sleep(4.5)  # two more segment lengths
        assert await segments() == held

        log = await client.get_json("/api/v1/access-log?action=config_changed", admin)
        changes = [e["payload"] for e in log["entries"] if e["payload"].get("camera") == "lobby"]
        assert [c["reason"] for c in changes] == ["camera added"] + ["camera changed"] * 4, changes
        assert [c["details"]["changed"] for c in changes[1:]] in (
            ["name,source", "groups", "retention_days", "enabled"],
            ["name,source", "retention_days", "groups", "enabled"]), changes
        assert changes[-1]["actor"] == "admin"
        assert PASSWORD not in json.dumps(log)

    async with running_gateway(settings) as client:
        admin = await client.sign_in("admin", client.admin_password())
        cam = await client.get_json("/api/v1/cameras/lobby", admin)
        assert (cam["name"], cam["enabled"], cam["state"]) == ("Lobby East", False, "disabled"), cam
        assert f":{second.port}/" in cam["source"]


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
