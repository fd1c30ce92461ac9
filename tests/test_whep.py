"""WHEP live viewing end to end: real aiortc viewers, real gateway, real GStreamer camera."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from core.config import CameraConfig
from tests.fixtures_camera import CameraServer
from tests.gatewayutil import Client, make_settings, running_gateway

FAST = {"stall_timeout_s": 2.0, "read_timeout_s": 2.0, "open_timeout_s": 3.0,
        "backoff": {"initial_s": 0.5, "max_s": 1.0, "jitter": 0.1}}
VISIBILITY = {"access": {"visibility": {"viewer": ["indoor"], "operator": ["*"], "admin": ["*"]}}}
log = logging.getLogger(__name__)
# 20 viewers of one camera connect and all decode within ~0.5 s on 2 cores (measured).
VIEWERS = 20


class Viewer:
    """A WHEP client: an aiortc peer with one recvonly video transceiver."""

    def __init__(self, configuration: RTCConfiguration | None = None) -> None:
        self.pc = RTCPeerConnection(configuration or RTCConfiguration(iceServers=[]))
        self.track: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()
        self.location = ""

        @self.pc.on("track")
        def _on_track(track: MediaStreamTrack) -> None:
            if not self.track.done():
                self.track.set_result(track)

    async def offer(self, codec: str | None = None) -> str:
        transceiver = self.pc.addTransceiver("video", direction="recvonly")
        if codec is not None:
            caps = RTCRtpSender.getCapabilities("video").codecs
            transceiver.setCodecPreferences([c for c in caps if c.mimeType == codec])
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def connect(self, client: Client, camera: str, token: str) -> float:
        """POST the offer, apply the answer; returns when the answer was applied (monotonic)."""
        sdp = await self.offer()
        async with client.http.post(
            client.url(f"/whep/live/{camera}"), data=sdp,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"},
        ) as resp:
            answer = await resp.text()
            assert resp.status == 201, answer
            assert resp.content_type == "application/sdp"
            assert resp.headers["ETag"]
            self.location = resp.headers["Location"]
        assert self.location.startswith("/whep/sessions/")
        # The codec lines only: a random ice-ufrag or ice-pwd may spell "VP8" (seen once).
        codecs = [line for line in answer.splitlines() if line.startswith("a=rtpmap:")]
        assert any("H264/90000" in line for line in codecs) and not any(" VP8/" in line for line in codecs), codecs
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        return time.monotonic()

    async def first_frame(self, within: float) -> Any:
        track = await asyncio.wait_for(self.track, within)
        return await asyncio.wait_for(track.recv(), within)

    async def close(self) -> None:
        await self.pc.close()


async def problem(client: Client, method: str, path: str, status: int, token: str | None = None,
                  **kwargs: Any) -> dict[str, Any]:
    headers = kwargs.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with client.http.request(method, client.url(path), headers=headers, **kwargs) as resp:
        body = await resp.json(content_type=None)
        assert resp.status == status, (resp.status, body)
        assert resp.content_type == "application/problem+json"
        return dict(body)


async def wait_online(client: Client, token: str, camera: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        body = await client.get_json(f"/api/v1/cameras/{camera}", token)
        if body["state"] == "online":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{camera} not online")


async def metrics(client: Client) -> str:
    async with client.http.get(client.url("/metrics")) as resp:
        return await resp.text()


async def test_live_frames_delete_and_access_log(
    tmp_path: Path, db_url: str, camera_server: Callable[..., CameraServer]
) -> None:
    server = camera_server({"live": "ball"})
    cams = [CameraConfig(id="gate", name="Gate", source=server.url("live"), **FAST)]
    async with running_gateway(make_settings(tmp_path, db_url, cams)) as client:
        token = await client.sign_in("admin", client.admin_password())
        await wait_online(client, token, "gate")
        viewer = Viewer()
        try:
            answered = await viewer.connect(client, "gate", token)
            frame = await viewer.first_frame(within=3)
            first_frame_s = time.monotonic() - answered
            log.warning("WHEP time to first frame: %.3f s", first_frame_s)
            assert first_frame_s < 3
            assert (frame.width, frame.height) == (640, 360)
            track = await viewer.track
            for _ in range(10):  # the stream keeps decoding, not just the first keyframe
                frame = await asyncio.wait_for(track.recv(), 2)
            text = await metrics(client)
            assert 'pantau_whep_sessions{camera="gate"} 1.0' in text
            sent = [line for line in text.splitlines() if line.startswith('pantau_whep_sent_bytes_total{camera="gate"}')]
            assert sent and float(sent[0].split()[-1]) > 10_000

            # Someone else's session is not there for them (trickle ICE by PATCH: tests/test_whep_ice.py).
            services = client.gateway.services
            assert services is not None
            await services.users.add("vera", "viewer", "vera-password-1")
            vera = await client.sign_in("vera", "vera-password-1")
            await problem(client, "DELETE", viewer.location, 404, vera)
            await problem(client, "PATCH", viewer.location, 400, data="a=candidate:x",
                          headers={"Content-Type": "application/trickle-ice-sdpfrag"})

            async with client.http.delete(
                client.url(viewer.location), headers={"Authorization": f"Bearer {token}"}
            ) as resp:
                assert resp.status == 200
            await problem(client, "DELETE", viewer.location, 404, token)
            assert 'pantau_whep_sessions{camera="gate"} 0.0' in await metrics(client)
        finally:
            await viewer.close()
        starts = await client.get_json("/api/v1/access-log?action=live_start", token)
        stops = await client.get_json("/api/v1/access-log?action=live_stop", token)
        start_entries = starts["entries"]
        stop_entries = stops["entries"]
        assert [e["payload"]["camera"] for e in start_entries] == ["gate"]
        assert [e["payload"]["camera"] for e in stop_entries] == ["gate"]
        assert stop_entries[0]["payload"]["details"]["duration_s"] > 0


async def test_concurrent_viewers_all_get_frames(
    tmp_path: Path, db_url: str, camera_server: Callable[..., CameraServer]
) -> None:
    server = camera_server({"live": "ball"})
    cams = [CameraConfig(id="gate", source=server.url("live"), **FAST)]
    async with running_gateway(make_settings(tmp_path, db_url, cams)) as client:
        token = await client.sign_in("admin", client.admin_password())
        await wait_online(client, token, "gate")
        viewers = [Viewer() for _ in range(VIEWERS)]
        try:
            started = time.monotonic()
            await asyncio.gather(*(v.connect(client, "gate", token) for v in viewers))
            frames = await asyncio.gather(*(v.first_frame(within=5) for v in viewers))
            log.warning("%d viewers: all decoding after %.3f s", VIEWERS, time.monotonic() - started)
            assert all((f.width, f.height) == (640, 360) for f in frames)
            assert 'pantau_whep_sessions{camera="gate"} 20.0' in await metrics(client)
        finally:
            await asyncio.gather(*(v.close() for v in viewers))
        # Viewers that just go away (no DELETE) are noticed and their sessions closed and logged.
        services = client.gateway.services
        assert services is not None and services.webrtc is not None
        for _ in range(100):
            if not services.webrtc.viewers("gate"):
                break
            await asyncio.sleep(0.1)
        assert services.webrtc.viewers("gate") == 0
        stops = await client.get_json("/api/v1/access-log?action=live_stop", token)
        assert len(stops["entries"]) == VIEWERS
        assert all(e["payload"]["reason"].startswith("connection") for e in stops["entries"])


async def test_bad_input_is_refused_cleanly(tmp_path: Path, db_url: str) -> None:
    cams = [
        CameraConfig(id="lobby", source="demo://pattern", groups=["indoor"], enabled=False),
        CameraConfig(id="gate", source="demo://pattern", groups=["gates"], enabled=False),
    ]
    async with running_gateway(make_settings(tmp_path, db_url, cams, **VISIBILITY)) as client:
        admin = await client.sign_in("admin", client.admin_password())
        services = client.gateway.services
        assert services is not None
        await services.users.add("vera", "viewer", "vera-password-1")
        vera = await client.sign_in("vera", "vera-password-1")
        sdp_headers = {"Content-Type": "application/sdp"}

        good = Viewer()
        vp8 = Viewer()
        h264 = Viewer()
        try:
            offer = await good.offer()
            vp8_offer = await vp8.offer("video/VP8")
            h264_offer = await h264.offer("video/H264")  # a browser without an H.265 decoder
        finally:
            await good.close()
            await vp8.close()
            await h264.close()
        assert "H264" not in vp8_offer and "H265" not in h264_offer

        await problem(client, "POST", "/whep/live/lobby", 401, data=offer, headers=dict(sdp_headers))
        # A camera vera may not see is as absent as one that does not exist.
        await problem(client, "POST", "/whep/live/gate", 404, vera, data=offer, headers=dict(sdp_headers))
        await problem(client, "POST", "/whep/live/nowhere", 404, vera, data=offer, headers=dict(sdp_headers))
        await problem(client, "POST", "/whep/live/..%2F..%2Fetc", 404, admin, data=offer,
                      headers=dict(sdp_headers))
        await problem(client, "POST", "/whep/live/lobby", 415, vera, data=offer,
                      headers={"Content-Type": "text/plain"})
        await problem(client, "POST", "/whep/live/lobby", 413, vera, data=offer + "a=x\r\n" * 20_000,
                      headers=dict(sdp_headers))
        body = await problem(client, "POST", "/whep/live/lobby", 400, vera, data=vp8_offer,
                             headers=dict(sdp_headers))
        assert "H.264" in body["detail"]
        broken = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\nc=nonsense\r\n"
        await problem(client, "POST", "/whep/live/lobby", 400, vera, data=broken, headers=dict(sdp_headers))
        await problem(client, "POST", "/whep/live/lobby", 400, vera, data="\xff garbage",
                      headers=dict(sdp_headers))
        await problem(client, "POST", "/whep/live/lobby", 400, vera, json={"type": "answer", "sdp": offer})
        for bad_id in ("..%2F..%2Fetc%2Fpasswd", "short", "a" * 200):
            await problem(client, "DELETE", f"/whep/sessions/{bad_id}", 404, admin)
        await problem(client, "DELETE", "/whep/sessions/AAAAAAAAAAAAAAAAAAAAAAAA", 401)
        # A camera that sends HEVC cannot be passed through to a browser that does not offer H.265:
        # refused, not a silent 201 (tests/test_city_codecs.py has the browser that does).
        from fractions import Fraction

        from streams.packet import StreamInfo

        services.cameras["lobby"].hub.set_streams(
            (StreamInfo(0, "video", "hevc", Fraction(1, 90000), None, 1920, 1080),)
        )
        body = await problem(client, "POST", "/whep/live/lobby", 422, vera, data=h264_offer,
                             headers=dict(sdp_headers))
        assert "hevc" in body["detail"]
        assert services.webrtc is not None and services.webrtc.viewers("lobby") == 0
        # The refused camera was logged as a denial.
        denials = await client.get_json("/api/v1/access-log?action=decision", admin)
        assert any(e["payload"]["camera"] == "gate" and e["payload"]["outcome"] == "deny" for e in denials["entries"])


async def test_json_offer_gets_json_answer(
    tmp_path: Path, db_url: str, camera_server: Callable[..., CameraServer]
) -> None:
    server = camera_server({"live": "ball"})
    cams = [CameraConfig(id="gate", source=server.url("live"), **FAST)]
    async with running_gateway(make_settings(tmp_path, db_url, cams)) as client:
        token = await client.sign_in("admin", client.admin_password())
        await wait_online(client, token, "gate")
        viewer = Viewer()
        try:
            offer = await viewer.offer()
            async with client.http.post(
                client.url("/whep/live/gate"), json={"type": "offer", "sdp": offer},
                headers={"Authorization": f"Bearer {token}"},
            ) as resp:
                body = await resp.json()
                assert resp.status == 201, body
                assert resp.headers["Location"].startswith("/whep/sessions/")
            assert body["type"] == "answer"
            await viewer.pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type="answer"))
            frame = await viewer.first_frame(within=3)
            assert (frame.width, frame.height) == (640, 360)
        finally:
            await viewer.close()


async def test_signing_out_ends_the_viewers_live_session(
    tmp_path: Path, camera_server: Callable[..., CameraServer], monkeypatch: Any
) -> None:
    from gateway.http.auth import SIGNED_OUT
    from webrtc import sessions as sessions_module

    monkeypatch.setattr(sessions_module, "SIGN_IN_CHECK_S", 0.3)
    server = camera_server({"live": "ball"})
    cams = [CameraConfig(id="gate", source=server.url("live"), **FAST)]
    async with running_gateway(make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cams)) as client:
        admin = await client.sign_in("admin", client.admin_password())
        services = client.gateway.services
        assert services is not None and services.webrtc is not None
        await services.users.add("vera", "viewer", "vera-password-1")
        vera = await client.sign_in("vera", "vera-password-1")
        await wait_online(client, admin, "gate")
        kept, ended = Viewer(), Viewer()
        try:
            await kept.connect(client, "gate", admin)
            await ended.connect(client, "gate", vera)
            await asyncio.gather(kept.first_frame(within=5), ended.first_frame(within=5))
            async with client.http.delete(client.url("/api/v1/session"),
                                          headers={"Authorization": f"Bearer {vera}"}) as resp:
                assert resp.status in (200, 204)
            for _ in range(50):
                if services.webrtc.viewers("gate") == 1:
                    break
                await asyncio.sleep(0.1)
            assert services.webrtc.viewers("gate") == 1  # vera's session ended, admin's goes on
            track = await kept.track
            await asyncio.wait_for(track.recv(), 3)
        finally:
            await asyncio.gather(kept.close(), ended.close())
        stops = await client.get_json("/api/v1/access-log?action=live_stop&actor=vera", admin)
        assert [e["payload"]["reason"] for e in stops["entries"]] == [SIGNED_OUT]
