"""Alerts end to end on a running gateway with the GStreamer test camera: a camera killed and
restarted reaches the live stream as camera.offline / camera.online in time, only for those who
may see the camera, without its password, and a reconnecting client misses nothing."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from core.config import CameraConfig
from tests.alerts.sse import Stream, sse
from tests.fixtures_camera import CameraServer
from tests.gatewayutil import make_settings, running_gateway, until

pytestmark = pytest.mark.slow
STALL_S = 1.0
PLANTED = "planted-pw-4821"


async def _has(stream: Stream, kind: str, camera: str, count: int = 1) -> bool:
    return len(stream.alerts(kind, camera)) >= count


async def test_camera_offline_and_online_reach_the_stream_in_time_and_only_where_visible(
    tmp_path: Path, db_url: str, camera_server: Any
) -> None:
    server: CameraServer = camera_server({"gate": "ball", "vault": "smpte"})
    cameras = [
        CameraConfig(id="gate", name="Gate", source=server.url("gate", f"admin:{PLANTED}"), groups=["street"],
                     stall_timeout_s=STALL_S, record=False),
        CameraConfig(id="vault", name="Vault", source=server.url("vault"), groups=["vault"],
                     stall_timeout_s=STALL_S, record=False),
    ]
    settings = make_settings(tmp_path, db_url, cameras, access={"visibility": {
        "viewer": ["street"], "operator": ["*"], "supervisor": ["*"], "admin": ["*"], "auditor": ["*"]}},
        # Two outages within a minute would be `camera.flapping` (tests/alerts/test_bus.py); here each counts.
        alerts={"flap_threshold": 10})
    async with running_gateway(settings) as client:
        assert client.gateway.services is not None
        await client.gateway.services.users.add("vera", "viewer", "vera-password-1")
        admin = await client.sign_in("admin", client.admin_password())
        viewer = await client.sign_in("vera", "vera-password-1")
        url = client.url("/api/v1/events/stream")
        # From the start of the outbox (Last-Event-ID: 0): the cameras came online before we connected.
        async with sse(client.http, url, admin, 0) as seen, sse(client.http, url, viewer, 0) as seen_by_viewer:
            await until(lambda: _has(seen, "camera.online", "gate"), what="gate online")
            await until(lambda: _has(seen, "camera.online", "vault"), what="vault online")
            server.stop()
            stopped = asyncio.get_running_loop().time()
            await until(lambda: _has(seen, "camera.offline", "gate"), within=STALL_S + 5, what="gate offline")
            offline = next(r for r in seen.events if r.event == "alert" and r.data["kind"] == "camera.offline"
                           and r.data["camera"] == "gate")
            assert offline.at - stopped <= STALL_S + 2, f"camera.offline took {offline.at - stopped:.2f} s"
            assert offline.data["severity"] == "critical"
            assert offline.data["summary"]["en"].startswith("Camera gate is offline")
            assert offline.data["summary"]["id"].startswith("Kamera gate terputus")
            await until(lambda: _has(seen, "camera.offline", "vault"), what="vault offline")
            server.start()
            await until(lambda: _has(seen, "camera.online", "gate", 2), what="gate online again")
            await until(lambda: _has(seen_by_viewer, "camera.online", "gate", 2), what="the viewer saw it too")
            last_seen_by_viewer = int(seen_by_viewer.events[-1].id or 0)
        # The viewer never heard of the vault.
        assert seen_by_viewer.alerts(camera="vault") == []
        assert [a["kind"] for a in seen_by_viewer.alerts(camera="gate")] == [
            "camera.online", "camera.offline", "camera.online"]
        assert all(a["camera"] == "gate" for a in seen_by_viewer.alerts())
        # No payload anywhere carries the camera's password.
        assert PLANTED not in seen.raw and PLANTED not in seen_by_viewer.raw
        listed = await client.get_json("/api/v1/alerts", admin)
        assert PLANTED not in str(listed)
        assert {a["kind"] for a in listed["alerts"]} >= {"camera.online", "camera.offline"}
        # Missed while away: a reconnect with Last-Event-ID gets exactly what came after.
        server.stop()
        await until(lambda: _listed(client, admin, "camera.offline", 4), what="both offline again")
        async with sse(client.http, url, viewer, last_event_id=last_seen_by_viewer) as resumed:
            await until(lambda: _has(resumed, "camera.offline", "gate"), what="the missed alert replayed")
            await asyncio.sleep(0.5)
        assert [a["kind"] for a in resumed.alerts()] == ["camera.offline"]
        assert int(resumed.events[0].id or 0) > last_seen_by_viewer
        metrics = await _text(client, "/metrics", admin)
        assert 'pantau_alerts_published_total{kind="camera.offline",sink="outbox"} 4.0' in metrics, metrics


async def _listed(client: Any, token: str, kind: str, count: int) -> bool:
    body = await client.get_json(f"/api/v1/alerts?kinds={kind}", token)
    return len(body["alerts"]) >= count


async def _text(client: Any, path: str, token: str) -> str:
    async with client.http.get(client.url(path), headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200
        return str(await resp.text())


async def test_unknown_alert_kind_is_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    async with running_gateway(settings) as client:
        admin = await client.sign_in("admin", client.admin_password())
        body = await client.get_json("/api/v1/alerts?kinds=camera.bogus", admin, status=400)
        assert "camera.bogus" in body["detail"]
        started = time.monotonic()
        async with client.http.get(client.url("/api/v1/events/stream?kinds=nope"),
                                   headers={"Authorization": f"Bearer {admin}"}) as resp:
            assert resp.status == 400
        assert time.monotonic() - started < 5
