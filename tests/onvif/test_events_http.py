"""Events through the gateway: an onvif:// camera's tamper alarm in /api/v1/events, the SSE stream and health."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any

import aiohttp

from core.config import CameraConfig
from tests.fixtures_camera import CameraServer
from tests.gatewayutil import Client, make_settings, running_gateway, until
from tests.onvif.soap_replay import EventDevice

# 6 s: a renewal a loaded machine holds up a second or two still comes before the camera drops it.
FAST = {"subscription_s": 6, "pull_timeout_s": 1, "retry_initial_s": 0.2, "retry_max_s": 1}
VISIBILITY = {"visibility": {"viewer": ["indoor"], "operator": ["*"], "admin": ["*"]}}


async def sse(client: Client, token: str) -> AsyncGenerator[dict[str, Any]]:
    """The JSON of each camera-event of /api/v1/events/stream."""
    headers = {"Authorization": f"Bearer {token}"}
    async with client.http.get(client.url("/api/v1/events/stream"), headers=headers) as resp:
        assert resp.status == 200 and resp.content_type == "text/event-stream"
        event = None
        async for raw in resp.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "camera-event":
                yield json.loads(line[6:])


async def test_tamper_alarm_reaches_events_stream_and_health_and_nothing_leaks(
    tmp_path: Path, camera_server: Callable[..., CameraServer]
) -> None:
    camera = camera_server({"main": "ball"})
    async with EventDevice(stream_uri=camera.url("main")) as device:
        cams = [
            CameraConfig(id="gate", source=device.source(), record=False, groups=["gates"]),
            CameraConfig(id="lobby", source="rtsp://127.0.0.1:9/none", enabled=False, record=False, groups=["indoor"]),
        ]
        settings = make_settings(
            tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cams, events=FAST, access=VISIBILITY
        )
        async with running_gateway(settings) as client:
            services = client.gateway.services
            assert services is not None
            await services.users.add("omar", "operator", "omar-password-1")
            await services.users.add("vera", "viewer", "vera-password-1")
            admin = await client.sign_in("admin", client.admin_password())
            omar = await client.sign_in("omar", "omar-password-1")
            vera = await client.sign_in("vera", "vera-password-1")

            await device.wait_for(lambda: device.live == 1 and device.renewed >= 1, within=20)

            async def online() -> bool:
                body = await client.get_json("/api/v1/cameras/gate", omar)
                return bool(body["state"] == "online")

            await until(online, within=30)

            stream = sse(client, omar)
            first = asyncio.ensure_future(anext(stream))
            await until(lambda: _listening(services), within=5)
            device.push("tamper")
            got = await asyncio.wait_for(first, 10)
            assert set(got) == {"camera", "kind", "active", "at", "topic", "initial"} and got["initial"] is False
            assert (got["camera"], got["kind"], got["active"]) == ("gate", "tamper", True)
            assert got["topic"] == "tns1:RuleEngine/CellMotionDetector/Tamper" and got["at"].endswith("Z")
            await stream.aclose()

            listed = await client.get_json("/api/v1/events?camera=gate&kind=tamper", omar)
            assert listed["events"] == [got]
            assert (await client.get_json("/api/v1/events", vera))["events"] == []  # vera does not see gate
            assert (await client.get_json("/api/v1/events?camera=gate", vera))["events"] == []
            await client.get_json("/api/v1/events?kind=smoke", omar, status=400)

            detail = await client.get_json("/api/v1/cameras/gate", omar)
            assert detail["state"] == "degraded" and "tamper" in detail["problems"]
            assert "tamper alarm" in detail["reason"]
            health = await client.get_json("/health", admin, status=200)
            checks = health["checks"]["camera:tamper"]
            assert any(c["componentId"] == "gate" and c["status"] == "warn" for c in checks)

            device.push("tamper", "false")

            async def cleared() -> bool:
                body = await client.get_json("/api/v1/cameras/gate", omar)
                return "tamper" not in body["problems"] and body["state"] == "online"

            await until(cleared, within=10)
            kinds = [(e["kind"], e["active"]) for e in (await client.get_json("/api/v1/events", omar))["events"]]
            assert kinds == [("tamper", False), ("tamper", True)]
            assert device.created == 1  # renewed all along, never resubscribed
        # The gateway stopped: its subscription was ended on the camera, not left to expire.
        assert device.live == 0 and device.unsubscribed == 1

        # The events are in the database: a restarted gateway still lists them.
        async with running_gateway(settings) as client:
            omar = await client.sign_in("omar", "omar-password-1")
            listed = (await client.get_json("/api/v1/events?camera=gate", omar))["events"]
            # Newest first; the new subscription may have added the camera's present state (tamper off).
            assert [(e["kind"], e["active"]) for e in listed[-2:]] == [("tamper", False), ("tamper", True)]
            assert listed[-1] == got
            assert all(e["initial"] for e in listed[:-2])  # the new subscription's present state, if any
        assert device.live == 0
        assert device.problems == []


async def _listening(services: Any) -> bool:
    return bool(services.events is not None and services.events.listeners)


async def test_events_need_a_session(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    async with running_gateway(settings) as client:
        for path in ("/api/v1/events", "/api/v1/events/stream"):
            async with aiohttp.ClientSession() as anon, anon.get(client.url(path)) as resp:
                assert resp.status == 401


async def test_an_open_event_stream_does_not_hold_up_shutdown(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    async with running_gateway(settings) as client:
        token = await client.sign_in("admin", client.admin_password())
        headers = {"Authorization": f"Bearer {token}"}
        resp = await client.http.get(client.url("/api/v1/events/stream"), headers=headers)
        assert resp.status == 200
        await resp.content.readline()  # the opening comment: the stream is up
        started = time.monotonic()
    # running_gateway has cancelled and awaited the gateway with the stream still open.
    assert time.monotonic() - started < 5
    resp.release()


async def test_signing_out_ends_the_event_stream(tmp_path: Path, monkeypatch: Any) -> None:
    from gateway.http import eventstream as events_route

    monkeypatch.setattr(events_route, "KEEPALIVE_S", 0.2)
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    async with running_gateway(settings) as client:
        token = await client.sign_in("admin", client.admin_password())
        headers = {"Authorization": f"Bearer {token}"}
        async with client.http.get(client.url("/api/v1/events/stream"), headers=headers) as resp:
            assert resp.status == 200
            assert (await resp.content.readline()).startswith(b": pantau events")
            assert (await asyncio.wait_for(resp.content.readline(), 5)) == b"\n"
            assert (await asyncio.wait_for(resp.content.readline(), 5)).startswith(b": keepalive")
            async with client.http.delete(client.url("/api/v1/session"), headers=headers) as out:
                assert out.status in (200, 204)
            # The server ends the stream: the body reaches its end instead of more keepalives.
            rest = await asyncio.wait_for(resp.content.read(), 5)
            assert rest.count(b"keepalive") <= 2, rest
