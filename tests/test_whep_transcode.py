"""A camera whose video cannot be transcoded: its viewers' sessions end saying why, and the next viewer
is told (503 transcode_failed with Retry-After) instead of getting a black picture.

The camera's hub is fed by the test (its RTSP source is unreachable): real H.265 first, which a real
aiortc viewer decodes through the gateway's transcode, then bytes no decoder makes a picture of.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from aiortc import RTCRtpSender

from core.config import CameraConfig
from streams.packet import MediaPacket
from tests.fastrecording import IDLE_SOURCE
from tests.gatewayutil import make_settings, running_gateway
from tests.test_transcode_units import hevc_clip
from tests.test_whep import Viewer
from webrtc.reencode import MAX_PACKETS_WITHOUT_PICTURE


class H264Viewer(Viewer):
    """A viewer whose offer lists H.264 only, as Debian's Chromium (no H.265 decoder) sends: the
    gateway registers H.265 with aiortc, so a plain aiortc offer in this process would list it too."""

    async def offer(self, codec: str | None = None) -> str:
        transceiver = self.pc.addTransceiver("video", direction="recvonly")
        caps = RTCRtpSender.getCapabilities("video").codecs
        transceiver.setCodecPreferences([c for c in caps if c.mimeType in (codec or "video/H264", "video/rtx")])
        await self.pc.setLocalDescription(await self.pc.createOffer())
        sdp = str(self.pc.localDescription.sdp)
        assert "H265" not in sdp
        return sdp


async def wait_until(check: Callable[[], bool], within_s: float, what: str) -> None:
    """Poll `check` (state the gateway holds in memory, no event to wait on) until true."""
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def test_a_failed_transcode_ends_its_sessions_and_tells_the_next_viewer(tmp_path: Path) -> None:
    cams = [CameraConfig(id="lobby", source=IDLE_SOURCE, transcode=True, record=False, open_timeout_s=2.0,
                         backoff={"initial_s": 60, "max_s": 60, "jitter": 0})]
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cams,
                             webrtc={"max_transcodes": 2, "transcode_width": 160})
    info, packets = hevc_clip(50)
    async with running_gateway(settings) as client:
        services = client.gateway.services
        assert services is not None
        camera = services.cameras["lobby"]
        # Its one connect attempt fails; the next is a minute away.
        await wait_until(lambda: camera.status.attempt > 0, 10, "the camera never tried to connect")
        camera.hub.set_streams((info,))
        admin = await client.sign_in("admin", client.admin_password())
        viewer = H264Viewer()
        try:
            await viewer.connect(client, "lobby", admin)

            async def play() -> None:
                for packet in packets:  # in real time: the transcoder encodes only fresh packets
                    camera.hub.publish(MediaPacket(0, packet.data, packet.pts, packet.dts, packet.is_keyframe,
                                                   time.monotonic(), time.time()))
                    await asyncio.sleep(0.04)

            playing = asyncio.create_task(play())
            try:
                frame = await viewer.first_frame(within=5)
            finally:
                await playing
            assert (frame.width, frame.height) == (160, 120)

            junk = b"\x00\x00\x01" + bytes(range(256)) * 4
            for index in range(MAX_PACKETS_WITHOUT_PICTURE + 10):
                # Marked keyframes, so a full queue restarting at a keyframe cannot skip them.
                camera.hub.publish(MediaPacket(0, junk, 10**6 + index, 10**6 + index, True, time.monotonic(),
                                               time.time()))
                await asyncio.sleep(0.002)
            await wait_until(lambda: services.webrtc.viewers("lobby") == 0, 10, "the session did not end")
            assert services.webrtc.transcodes.cameras == []
        finally:
            await viewer.close()
        stops = await client.get_json("/api/v1/access-log?action=live_stop&camera=lobby", admin)
        [stop] = [e["payload"] for e in stops["entries"]]
        assert stop["reason"].startswith("transcoding failed: 100 hevc packets in a row decoded to no picture"), stop

        late = H264Viewer()
        try:
            offer = await late.offer()
        finally:
            await late.close()
        async with client.http.post(client.url("/whep/live/lobby"), data=offer,
                                    headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/sdp"}
                                    ) as resp:
            body = await resp.json(content_type=None)
            assert resp.status == 503, body
            assert 1 <= int(resp.headers["Retry-After"]) <= 30
        assert body["reason"] == "transcode_failed" and body["codec"] == "H.265", body
        assert "no picture" in body["detail"]
