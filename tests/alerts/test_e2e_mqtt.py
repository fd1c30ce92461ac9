"""MQTT end to end: a running gateway records the GStreamer test camera and publishes to a private
Mosquitto, watched by a real MQTT client. The camera is killed and restarted; the broker goes away
for a while; recording never stalls, and every alert arrives once the broker is back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.config import CameraConfig
from tests.fixtures_camera import CameraServer
from tests.fixtures_mqtt import Inbox, Mosquitto, subscribed
from tests.gatewayutil import make_settings, running_gateway, until

pytestmark = pytest.mark.slow
STALL_S = 1.0
OUTAGE_S = 8.0
PLANTED = "planted-pw-5150"


def _events(inbox: Inbox, kind: str, camera: str = "gate") -> list[dict[str, Any]]:
    return [m.json() for m in inbox.on(f"pantau/events/{kind.replace('.', '/')}") if m.json()["camera"] == camera]


def _state(inbox: Inbox) -> str | None:
    states = inbox.on("pantau/cameras/gate/state")
    return states[-1].json()["state"] if states else None


async def test_camera_changes_reach_mqtt_and_a_broker_outage_loses_nothing_nor_stalls_recording(
    tmp_path: Path, camera_server: Any, private_broker: Mosquitto
) -> None:
    server: CameraServer = camera_server({"gate": "ball"})
    yard_server: CameraServer = camera_server({"yard": "smpte"})
    cameras = [CameraConfig(id="gate", name="Gate", source=server.url("gate", f"admin:{PLANTED}"),
                            stall_timeout_s=STALL_S),
               CameraConfig(id="yard", name="Yard", source=yard_server.url("yard"), stall_timeout_s=STALL_S,
                            record=False)]
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cameras,
                             recording={"segment_s": 2, "min_free_bytes": 0},
                             alerts={"flap_threshold": 20, "mqtt": {"url": private_broker.url, "qos": 1,
                                                                     "retry": {"initial_s": 0.2, "max_s": 1.0}}})
    async with subscribed(private_broker.url, "pantau/#", persistent=True) as inbox, \
            running_gateway(settings) as client:
        admin = await client.sign_in("admin", client.admin_password())
        await inbox.until(lambda i: _state(i) == "online" and len(_events(i, "camera.online")) >= 1,
                          what="camera online on MQTT")
        assert inbox.on("pantau/status")[-1].payload == "online"
        server.stop()
        stopped = asyncio.get_running_loop().time()
        await inbox.until(lambda i: len(_events(i, "camera.offline")) >= 1, within=STALL_S + 5, what="offline")
        took = asyncio.get_running_loop().time() - stopped
        assert took <= STALL_S + 2, f"camera.offline reached MQTT after {took:.2f} s"
        # The retained state goes out right after the event (a publish of its own): it may trail it.
        await inbox.until(lambda i: _state(i) == "offline", within=5, what="the offline state")
        server.start()
        await inbox.until(lambda i: len(_events(i, "camera.online")) >= 2 and _state(i) == "online", what="back")
        # The broker goes away; the yard camera drops and returns meanwhile; the gate records on.
        await asyncio.sleep(2.5)
        outage_start = datetime.now(UTC)
        outage_began = asyncio.get_running_loop().time()
        await private_broker.stop()
        yard_server.stop()
        await asyncio.sleep(OUTAGE_S / 2)
        yard_server.start()
        await until(lambda: _online(client, admin, "yard"), what="the yard back (reconnect backoff)")
        await asyncio.sleep(max(0.0, OUTAGE_S - (asyncio.get_running_loop().time() - outage_began)))
        outage_end = datetime.now(UTC)
        # The camera's state turns online before its alert is through the bus and stored: wait for it.
        async def yard_back() -> list[dict[str, Any]] | None:
            alerts = (await client.get_json("/api/v1/alerts?kinds=camera.online,camera.offline", admin))["alerts"]
            kinds = [a["kind"] for a in alerts if a["camera"] == "yard"]
            return alerts if kinds[-2:] == ["camera.offline", "camera.online"] else None

        stored: list[dict[str, Any]] = await until(yard_back, 10, "the yard's offline and online alerts stored")
        await private_broker.start()  # same port, persistence: the test's subscriber session survives
        await inbox.until(lambda i: {p["id"] for p in _all(i)} >= {a["id"] for a in stored},
                          within=20, what="every alert of the outage, after it")
        query = (f"/api/v1/recordings?camera=gate&start={outage_start.isoformat().replace('+00:00', 'Z')}"
                 f"&end={outage_end.isoformat().replace('+00:00', 'Z')}")
        segments = (await client.get_json(query, admin))["segments"]
    published = _all(inbox)
    ids = [p["id"] for p in published]
    assert len(ids) == len(set(ids)), "an alert arrived twice"
    assert [p["seq"] for p in published] == sorted(p["seq"] for p in published)
    assert {p["id"] for p in stored} <= set(ids), "an alert stored during the outage never reached MQTT"
    assert all(PLANTED not in m.payload for m in inbox.messages)
    # Recording went on through the broker's outage: 2 s segments (cut on the camera's 2 s GOP)
    # sealed all along the window (8 s at least).
    assert len(segments) >= 3, segments
    assert all(_length(s) <= 4.5 for s in segments), segments


async def _online(client: Any, token: str, camera: str) -> bool:
    return bool((await client.get_json(f"/api/v1/cameras/{camera}", token))["state"] == "online")


def _all(inbox: Inbox) -> list[dict[str, Any]]:
    return [m.json() for m in inbox.messages if m.topic.startswith("pantau/events/")]


def _length(segment: dict[str, Any]) -> float:
    return (datetime.fromisoformat(segment["end"]) - datetime.fromisoformat(segment["start"])).total_seconds()
