"""ONVIF events through the facade: onvif-zeep-async's own PullPoint manager (CreatePullPointSubscription,
Renew, PullMessages, Unsubscribe) hears a camera go offline and come back, and a tamper alarm that
Pantau received from an ONVIF camera; a camera the account may not see is never in its messages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import onvif_adapters  # noqa: F401  (imports onvif with the root logger kept)
from core.config import CameraConfig
from onvif import ONVIFCamera
from tests.fixtures_camera import CameraServer
from tests.fixtures_onvif import free_udp_port
from tests.gatewayutil import make_settings, running_gateway, until
from tests.onvif.soap_replay import EventDevice
from tests.onvif.test_events_http import FAST

USER, PASSWORD = "nvr", "nvr-password-1"
QUICK = {"open_timeout_s": 2, "read_timeout_s": 1, "stall_timeout_s": 1,
         "backoff": {"initial_s": 0.2, "max_s": 1, "multiplier": 2, "jitter": 0}}


def _items(node: Any) -> dict[str, str]:
    return {i.Name: i.Value for i in node.SimpleItem}


def messages(answer: Any) -> list[tuple[str, str, str]]:
    """(topic, video source, state) of each NotificationMessage."""
    found = []
    for msg in answer.NotificationMessage or []:
        inner = msg.Message._value_1
        source = _items(inner.Source)
        data = _items(inner.Data)
        found.append((msg.Topic._value_1, source["VideoSourceToken"], next(iter(data.values()))))
    return found


@pytest.mark.timeout(180)
async def test_pullpoint_relays_offline_online_and_alarms_of_visible_cameras_only(
    tmp_path: Path, camera_server: Callable[..., CameraServer]
) -> None:
    server = camera_server({"main": "ball"})
    async with EventDevice(stream_uri=server.url("main")) as alarm_device:
        cameras = [
            CameraConfig(id="gate", source=server.url("main"), groups=["gates"], record=False, **QUICK),
            CameraConfig(id="hidden", source=server.url("main"), groups=["other"], record=False, **QUICK),
            CameraConfig(id="yard", source=alarm_device.source(), groups=["gates"], record=False),
        ]
        settings = make_settings(
            tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cameras, events=FAST,
            access={"visibility": {"admin": ["*"], "integrator": ["gates"]}},
            onvif_server={"enabled": True, "discovery": False, "discovery_port": free_udp_port()},
        )
        async with running_gateway(settings) as client:
            services = client.gateway.services
            assert services is not None and client.gateway.port is not None
            await services.users.add(USER, "integrator", PASSWORD)
            admin = await client.sign_in("admin", client.admin_password())

            async def online() -> bool:
                cams = (await client.get_json("/api/v1/cameras", admin))["cameras"]
                return all(c["state"] == "online" for c in cams if c["id"] != "yard")

            await until(online, within=30, what="cameras online")
            await alarm_device.wait_for(lambda: alarm_device.live == 1, within=20)

            nvr = ONVIFCamera("127.0.0.1", client.gateway.port, USER, PASSWORD, adjust_time=True)
            try:
                await nvr.update_xaddrs()
                manager = await nvr.create_pullpoint_manager(dt.timedelta(seconds=60), lambda: None)
                pullpoint = manager.get_service()
                heard: list[tuple[str, str, str]] = []

                async def hear(*wanted: tuple[str, str, str]) -> bool:
                    answer = await pullpoint.PullMessages({"Timeout": dt.timedelta(seconds=1), "MessageLimit": 100})
                    heard.extend(messages(answer))
                    return all(w in heard for w in wanted)

                server.stop()
                await until(lambda: hear(("tns1:VideoSource/SignalLoss", "src_gate", "true")), within=30,
                            what="gate offline heard")
                server.start()
                await until(lambda: hear(("tns1:VideoSource/SignalLoss", "src_gate", "false")), within=30,
                            what="gate back heard")
                alarm_device.push("tamper")
                await until(lambda: hear(("tns1:VideoSource/GlobalSceneChange/ImagingService", "src_yard", "true")),
                            within=30, what="tamper heard")
                assert not [m for m in heard if m[1] == "src_hidden"], heard
                assert services.onvif_server is not None and services.onvif_server.pull_points.count == 1
                await manager.shutdown()
                assert services.onvif_server.pull_points.count == 0
            finally:
                await nvr.close()
