"""PTZ passthrough: an ONVIF client that is not ours moves a camera through Pantau's PTZ service, and
the real ONVIF device behind it (ipycam) moves; policy `ptz` decides per camera, every command logged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zeep.exceptions
from lxml import etree

import onvif_adapters  # noqa: F401  (imports onvif with the root logger kept)
from core.config import CameraConfig
from onvif import ONVIFCamera
from tests.fixtures_onvif import OnvifDevice, free_udp_port
from tests.gatewayutil import make_settings, running_gateway
from tests.onvif.test_ptz_http import call, ptz_log
from tests.onvif_server.schemas import schema_of, soap

USER, PASSWORD = "vms", "vms-password-1"


@pytest.mark.timeout(90)
async def test_a_vms_moves_the_dome_through_pantau_and_may_not_move_the_other_camera(
    tmp_path: Path, onvif_device: Callable[..., OnvifDevice]
) -> None:
    device = onvif_device()
    cameras = [
        CameraConfig(id="dome", source=device.source(), groups=["gates"], record=False),
        # The same device under another id, in a group the account sees but may not move.
        CameraConfig(id="lobby", source=device.source(), groups=["lobby"], record=False),
    ]
    settings = make_settings(
        tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cameras,
        access={"visibility": {"admin": ["*"], "integrator": ["gates", "lobby"]},
                "ptz": {"admin": ["*"], "integrator": ["gates"]}},
        onvif_server={"enabled": True, "discovery": False, "discovery_port": free_udp_port()},
    )
    async with running_gateway(settings) as client:
        services = client.gateway.services
        assert services is not None and client.gateway.port is not None
        await services.users.add(USER, "integrator", PASSWORD)
        admin = await client.sign_in("admin", client.admin_password())
        vms = ONVIFCamera("127.0.0.1", client.gateway.port, USER, PASSWORD, adjust_time=True)
        try:
            await vms.update_xaddrs()
            media = await vms.create_media_service()
            profiles = {p.token: p for p in await media.GetProfiles()}
            assert profiles["dome"].PTZConfiguration.NodeToken == "node_dome"
            ptz = await vms.create_ptz_service()
            nodes = await ptz.GetNodes()
            assert sorted(n.token for n in nodes) == ["node_dome", "node_lobby"]

            await ptz.AbsoluteMove({"ProfileToken": "dome",
                                    "Position": {"PanTilt": {"x": -0.4, "y": 0.2}, "Zoom": {"x": 0.1}}})
            status, info = await call(client, "GET", "/api/v1/cameras/dome/ptz", admin)
            assert status == 200, info
            assert (info["status"]["pan"], info["status"]["tilt"], info["status"]["zoom"]) == (-0.4, 0.2, 0.1)
            here = await ptz.GetStatus({"ProfileToken": "dome"})
            assert (here.Position.PanTilt.x, here.Position.PanTilt.y) == (-0.4, 0.2)

            await ptz.ContinuousMove({"ProfileToken": "dome", "Velocity": {"PanTilt": {"x": 0.5, "y": 0.0}},
                                      "Timeout": "PT2S"})
            await ptz.Stop({"ProfileToken": "dome"})
            await ptz.GotoHomePosition({"ProfileToken": "dome"})
            presets = await ptz.GetPresets({"ProfileToken": "dome"})
            assert isinstance(presets, list)

            with pytest.raises(zeep.exceptions.Fault) as refused:
                await ptz.ContinuousMove({"ProfileToken": "lobby", "Velocity": {"PanTilt": {"x": 0.5, "y": 0.0}}})
            assert [q.localname for q in refused.value.subcodes] == ["NotAuthorized"]
        finally:
            await vms.close()

        base = f"http://127.0.0.1:{client.gateway.port}"
        status_code, answer = await soap(client.http, f"{base}/onvif/ptz_service", "GetNodes",
                                         "http://www.onvif.org/ver20/ptz/wsdl", USER, PASSWORD)
        assert status_code == 200
        schema = schema_of("ptz.wsdl")
        assert schema.validate(etree.ElementTree(answer)), schema.error_log.last_error

        entries: list[dict[str, Any]] = await ptz_log(client, admin)
        commands = [e["details"]["command"] for e in entries
                    if e["action"] == "ptz" and e["actor"] == USER and e["details"].get("via") == "onvif"]
        assert commands == ["move", "move", "stop", "home"], commands
        denied = [e for e in entries if e["action"] == "decision" and e["outcome"] == "deny" and e["actor"] == USER]
        assert [(e["camera"], e["details"]["action"]) for e in denied] == [("lobby", "ptz")]
