"""Sub-streams over HTTP, against GStreamer test cameras, an ONVIF device and real aiortc viewers: the
camera API names each stream's codec and size, WHEP `?stream=sub` plays the sub-stream (and refuses
what it cannot), an `onvif://...?profile=sub` sub-stream is resolved like the main one, and the
recordings listing takes `stream`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from core.config import CameraConfig
from tests.fixtures_camera import CameraServer
from tests.fixtures_onvif import OnvifDevice
from tests.gatewayutil import make_settings, running_gateway, until
from tests.test_whep import FAST, Viewer, problem


async def test_camera_api_whep_sub_stream_onvif_profile_sub_and_listing(
    tmp_path: Path, camera_server: Callable[..., CameraServer], onvif_device: Callable[..., OnvifDevice]
) -> None:
    server = camera_server({"main": "ball+640x360", "sub": "ball+320x180"})
    device = onvif_device()
    cams = [
        CameraConfig(id="gate", source=server.url("main"), substream=server.url("sub", "admin:secret-9"),
                     record_streams="both", **FAST),
        CameraConfig(id="lobby", source=server.url("main"), record=False, **FAST),
        CameraConfig(id="onvif-cam", source=device.source("main"), substream=device.source("sub"), record=False,
                     **FAST),
    ]
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cams, recording={"segment_s": 2})
    async with running_gateway(settings) as client:
        token = await client.sign_in("admin", client.admin_password())

        async def all_up() -> object:
            listed = await client.get_json("/api/v1/cameras", token)
            cameras = {c["id"]: c for c in listed["cameras"]}
            up = all(c["state"] == "online" and all(s["up"] for s in c["streams"].values())
                     for c in cameras.values())
            return up and cameras

        cameras = await until(all_up, 20, "every stream up")
        gate, lobby = cameras["gate"], cameras["lobby"]
        assert gate["substream"] is True and lobby["substream"] is False
        assert {k: (v["codec"], v["width"], v["height"]) for k, v in gate["streams"].items()} == {
            "main": ("h264", 640, 360), "sub": ("h264", 320, 180)}
        assert list(lobby["streams"]) == ["main"]
        detail = await client.get_json("/api/v1/cameras/gate", token)
        assert detail["substream_source"] == server.url("sub", "***") and detail["record_streams"] == "both"

        # The ONVIF device's second profile is the sub-stream, resolved through the device on connect.
        services = client.gateway.services
        assert services is not None
        onvif_cam = services.cameras["onvif-cam"]
        assert onvif_cam.sub is not None and onvif_cam.sub.resolver is not None
        assert onvif_cam.sub.resolver.device is not None  # type: ignore[attr-defined]
        assert onvif_cam.sub.resolver.device.profile != onvif_cam.resolver.device.profile  # type: ignore[attr-defined,union-attr]

        # WHEP: the sub-stream plays at its own size; main stays the default.
        viewer, main_viewer = Viewer(), Viewer()
        try:
            await viewer.connect(client, "gate?stream=sub", token)
            frame = await viewer.first_frame(within=5)
            assert (frame.width, frame.height) == (320, 180)
            await main_viewer.connect(client, "gate", token)
            frame = await main_viewer.first_frame(within=5)
            assert (frame.width, frame.height) == (640, 360)
            assert services.webrtc.viewers("gate") == 2
            assert services.cameras["gate"].sub.hub.subscriber_count >= 1  # type: ignore[union-attr]
        finally:
            await viewer.close()
            await main_viewer.close()
        refused = Viewer()
        try:
            offer = await refused.offer()
        finally:
            await refused.close()  # only its offer is needed; its sockets must not outlive the test
        headers = {"Content-Type": "application/sdp"}
        bad = await problem(client, "POST", "/whep/live/gate?stream=hd", 400, token, data=offer, headers=headers)
        assert bad["detail"] == "stream must be main or sub"
        none = await problem(client, "POST", "/whep/live/lobby?stream=sub", 404, token, data=offer, headers=headers)
        assert none["detail"] == "camera 'lobby' has no sub-stream"

        # The recordings listing: the main stream by default, the sub-stream's own chain on request.
        since = datetime.now(UTC) - timedelta(minutes=1)

        async def both_sealed() -> object:
            query = {"camera": "gate", "start": since.isoformat(), "end": datetime.now(UTC).isoformat()}
            main = await client.get_json(f"/api/v1/recordings?{urlencode(query)}", token)
            sub = await client.get_json(f"/api/v1/recordings?{urlencode({**query, 'stream': 'sub'})}", token)
            return main["segments"] and sub["segments"] and (main, sub)

        main, sub = await until(both_sealed, 20, "main and sub segments sealed")
        assert main["stream"] == "main" and sub["stream"] == "sub"
        assert {s["width"] for s in main["segments"]} == {640} and {s["width"] for s in sub["segments"]} == {320}
        assert main["segments"][0]["prev_sha256"] is None and sub["segments"][0]["prev_sha256"] is None
        query = urlencode({"camera": "gate", "start": since.isoformat(), "end": datetime.now(UTC).isoformat(),
                           "stream": "both"})
        await problem(client, "GET", f"/api/v1/recordings?{query}", 400, token)
