"""Cameras as a city fleet has them, end to end on one gateway: plain H.264, H.264 with B-frames and
H.265 from the GStreamer test camera, recorded in 2 s segments (issue 15, items 3 and 4).

- every sealed segment, the first of each connection too, holds one packet per frame time, and
  Debian's ffmpeg decodes it without a single warning;
- the B-frame camera plays back over WHEP and downloads through /get without errors;
- the H.265 camera records as hevc, and goes live untouched to a viewer whose offer lists H.265
  (an aiortc peer with an RFC 7798 depayloader: Debian's Chromium offers no H.265);
- the B-frame camera is never sent live untouched (WebRTC cannot reorder frames): 422
  `reordered_frames` with `transcode: false`, transcoded to H.264 with `transcode: true` (a small
  camera of its own, whose plain sub-stream goes out untouched).

One camera server and one gateway (SQLite: nothing here depends on the index backend) serve every
test in the module.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import av
import pytest
import pytest_asyncio
from aiortc import RTCRtpSender, RTCSessionDescription, rtcrtpreceiver
from aiortc.codecs.base import Decoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import VIDEO_TIME_BASE
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from av.frame import Frame

from core.config import CameraConfig
from tests.fixtures_camera import CameraServer
from tests.gatewayutil import Client, make_settings, running_gateway, until
from tests.test_whep import Viewer, problem
from tests.test_whep_playback import PlaybackViewer
from tests.test_whep_transcode import wait_until
from webrtc import h265
from core.utctime import format_utc as z

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]

FAST = {"stall_timeout_s": 2.0, "read_timeout_s": 2.0, "open_timeout_s": 3.0,
        "backoff": {"initial_s": 0.5, "max_s": 1.0, "jitter": 0.1}}
MOUNTS = {"plain": "ball", "bframes": "ball+bframes", "hevc": "ball+h265"}
STEP = 3600  # one frame of the test camera's 25 fps in the segments' 1/90000 s
ADMIN_EXPORT = {"admin": {"groups": ["*"], "max_age_h": 1}}
SDP = {"Content-Type": "application/sdp"}
# A small B-frame camera with transcode: true and a plain sub-stream (small: cheap to encode twice).
LIVE_MOUNTS = {"bframes-small": "ball+bframes+320x180", "plain-small": "ball+320x180"}
TRANSCODE_WIDTH = 160  # the 320x180 camera transcoded arrives 160x90


@dataclass
class Fleet:
    client: Client
    admin: str
    storage: Path
    segments: dict[str, list[dict[str, Any]]]  # camera -> sealed segments (API rows), oldest first


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fleet(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Fleet]:
    tmp = tmp_path_factory.mktemp("citycodecs")
    server = CameraServer({**MOUNTS, **LIVE_MOUNTS})
    server.start()
    cams = [CameraConfig(id=name, source=server.url(name), **FAST) for name in MOUNTS]
    # Mounts of its own: a second client joining a shared mount can glitch the first one's timestamps.
    cams.append(CameraConfig(id="bframes-tx", source=server.url("bframes-small"), substream=server.url("plain-small"),
                             transcode=True, record=False, **FAST))
    settings = make_settings(tmp, f"sqlite+aiosqlite:///{tmp / 'pantau.db'}", cams,
                             recording={"segment_s": 2, "min_free_bytes": 0},
                             access={"export": ADMIN_EXPORT}, webrtc={"transcode_width": TRANSCODE_WIDTH})
    began = datetime.now(UTC) - timedelta(minutes=1)
    try:
        async with running_gateway(settings) as client:
            admin = await client.sign_in("admin", client.admin_password())

            async def sealed() -> dict[str, list[dict[str, Any]]] | None:
                out = {}
                for name in MOUNTS:
                    body = await client.get_json(
                        f"/api/v1/recordings?camera={name}&start={z(began)}&end={z(began + timedelta(hours=1))}", admin)
                    if len(body["segments"]) < 3:
                        return None
                    out[name] = body["segments"]
                return out

            segments = await until(sealed, 40, "three sealed segments per camera")
            yield Fleet(client, admin, settings.storage.path, segments)
    finally:
        server.stop()


def probe(path: Path) -> tuple[str, list[tuple[int, int]]]:
    """(codec name, (pts, dts) of every video packet) as Debian's ffprobe reads the file."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name:packet=pts,dts",
         "-of", "json", str(path)], capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    info = json.loads(out)
    return info["streams"][0]["codec_name"], [(int(p["pts"]), int(p["dts"])) for p in info["packets"]]


def ffmpeg_says(path: Path) -> str:
    """Everything Debian's ffmpeg prints at level warning and above while decoding the whole file."""
    done = subprocess.run(["ffmpeg", "-nostdin", "-v", "warning", "-i", str(path), "-f", "null", "-"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def check_one_packet_per_frame(packets: list[tuple[int, int]], what: str) -> None:
    times = sorted(pts for pts, _ in packets)
    assert len(set(times)) == len(times), f"{what}: two packets at one frame time"
    # Frame times one frame apart (a frame the camera skipped would be two): no tick-apart halves.
    steps = {b - a for a, b in zip(times, times[1:], strict=False)}
    assert steps and all(s % STEP == 0 for s in steps), f"{what}: steps {sorted(steps)}"


def sealed_files(storage: Path, camera: str) -> list[Path]:
    """The camera's sealed segment files, oldest first (sealing makes them read-only; the open
    segment is under .partial)."""
    files = [p for p in (storage / camera).rglob("*.mp4") if ".partial" not in p.parts]
    return sorted(p for p in files if not p.stat().st_mode & 0o222)


async def test_every_sealed_segment_is_one_packet_per_frame_and_decodes_without_a_warning(fleet: Fleet) -> None:
    for name in MOUNTS:
        files = sealed_files(fleet.storage, name)
        assert len(files) >= 3, (name, files)
        for path in files:
            codec, packets = await asyncio.to_thread(probe, path)
            assert codec == ("hevc" if name == "hevc" else "h264"), (name, codec)
            check_one_packet_per_frame(packets, f"{name} {path.name}")
            # 2 s segments cut on 2 s GOPs: about 50 frames each (the first may be shorter).
            assert 20 <= len(packets) <= 80, (name, len(packets))
            if name == "bframes":
                assert any(pts != dts for pts, dts in packets), "B-frames were recorded in display order"
            else:
                assert all(pts == dts for pts, dts in packets)
            assert await asyncio.to_thread(ffmpeg_says, path) == "", (name, path.name)


class ReorderingTimestampMapper:
    """aiortc's receiver takes any RTP timestamp lower than the last for a 32-bit wrap and adds 2**32;
    a B-frame stream's timestamps go back by design (picture times in decode order). This one
    unwraps by the signed difference, as RFC 3550 receivers do."""

    def __init__(self) -> None:
        self._last: int | None = None
        self._unwrapped = 0

    def map(self, timestamp: int) -> int:
        if self._last is not None:
            self._unwrapped += (timestamp - self._last + (1 << 31)) % (1 << 32) - (1 << 31)
        self._last = timestamp
        return self._unwrapped


async def test_bframes_camera_plays_back_over_whep(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rtcrtpreceiver, "TimestampMapper", ReorderingTimestampMapper)
    rows = fleet.segments["bframes"]
    start = datetime.fromisoformat(rows[1]["start"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(rows[2]["end"].replace("Z", "+00:00"))
    viewer = PlaybackViewer()
    try:
        await viewer.play(fleet.client, f"/whep/playback/bframes?start={z(start)}&end={z(end)}", fleet.admin)
        await viewer.wait_for("end", within=(end - start).total_seconds() + 15)
        await asyncio.sleep(0.3)
    finally:
        await viewer.close()
    # Every frame decoded (the viewer holds the last one back), in the order they are shown: sent in
    # decode order with their picture times as RTP timestamps, as RFC 6184 has it.
    frames = round((end - start).total_seconds() * 25)
    assert frames - 3 <= len(viewer.frames) <= frames, (len(viewer.frames), frames)
    pts = [p for p, _ in viewer.frames]
    steps = [b - a for a, b in zip(pts, pts[1:], strict=False)]
    assert all(s > 0 for s in steps), steps
    # Paced at 1x: a frame every 40 ms of picture time (a late sender may stretch a few).
    assert sum(s == STEP for s in steps) >= 0.9 * len(steps), steps
    assert viewer.sizes == {(640, 360)}


async def test_bframes_camera_downloads_through_get(fleet: Fleet, tmp_path: Path) -> None:
    rows = fleet.segments["bframes"]
    start = datetime.fromisoformat(rows[0]["start"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(rows[-1]["end"].replace("Z", "+00:00"))
    duration = (end - start).total_seconds()
    url = f"/get?path=bframes&start={quote(z(start))}&duration={duration}&format=mp4"
    async with fleet.client.http.get(fleet.client.url(url),
                                     headers={"Authorization": f"Bearer {fleet.admin}"}) as resp:
        data = await resp.read()
        assert resp.status == 200, data[:300]
    path = tmp_path / "bframes.mp4"
    path.write_bytes(data)
    codec, packets = await asyncio.to_thread(probe, path)
    assert codec == "h264"
    check_one_packet_per_frame(packets, "/get")
    assert any(pts != dts for pts, dts in packets)
    assert abs(len(packets) - duration * 25) <= 3, (len(packets), duration)
    assert await asyncio.to_thread(ffmpeg_says, path) == ""


class H265Decoder(Decoder):
    """What a browser with an H.265 decoder does with the frames aiortc's jitter buffer puts together."""

    def __init__(self) -> None:
        self.codec = av.CodecContext.create("hevc", "r")

    def decode(self, encoded_frame: JitterFrame) -> list[Frame]:
        packet = av.Packet(encoded_frame.data)
        packet.pts = encoded_frame.timestamp
        packet.time_base = VIDEO_TIME_BASE
        return list(self.codec.decode(packet))


async def test_hevc_camera_goes_live_untouched_to_a_viewer_that_offers_h265(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The viewer's side of RFC 7798: aiortc receives only what it can depayload and decode.
    get_decoder, depayload = rtcrtpreceiver.get_decoder, rtcrtpreceiver.depayload

    def decoder_for(codec: RTCRtpCodecParameters) -> Decoder:
        return H265Decoder() if codec.mimeType.lower() == h265.MIME.lower() else get_decoder(codec)

    def depayload_for(codec: RTCRtpCodecParameters, payload: bytes) -> bytes:
        return h265.depayload(payload) if codec.mimeType.lower() == h265.MIME.lower() else depayload(codec, payload)

    monkeypatch.setattr(rtcrtpreceiver, "get_decoder", decoder_for)
    monkeypatch.setattr(rtcrtpreceiver, "depayload", depayload_for)
    client = fleet.client

    # A viewer that cannot take H.265 is told why, with nothing started.
    plain = Viewer()
    try:
        offer = await plain.offer("video/H264")
    finally:
        await plain.close()
    body = await problem(client, "POST", "/whep/live/hevc", 422, fleet.admin, data=offer, headers=dict(SDP))
    assert "H.265" in body["detail"]

    viewer = Viewer()
    try:
        transceiver = viewer.pc.addTransceiver("video", direction="recvonly")
        caps = RTCRtpSender.getCapabilities("video").codecs
        transceiver.setCodecPreferences([c for c in caps if c.mimeType in (h265.MIME, "video/rtx")])
        await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
        offer = viewer.pc.localDescription.sdp
        assert "H265/90000" in offer and "H264/90000" not in offer
        async with client.http.post(client.url("/whep/live/hevc"), data=offer,
                                    headers={"Authorization": f"Bearer {fleet.admin}", **SDP}) as resp:
            answer = await resp.text()
            assert resp.status == 201, answer
        assert "H265/90000" in answer and "H264/90000" not in answer
        await viewer.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        frame = await viewer.first_frame(within=5)
        assert (frame.width, frame.height) == (640, 360)
        track = await viewer.track
        pts = [frame.pts]
        for _ in range(25):  # a second of it keeps decoding, frame after frame
            pts.append((await asyncio.wait_for(track.recv(), 2)).pts)
        assert all(b > a for a, b in zip(pts, pts[1:], strict=False))
    finally:
        await viewer.close()


async def test_bframes_camera_is_transcoded_live_or_refused_with_the_reason(fleet: Fleet) -> None:
    client = fleet.client
    services = client.gateway.services
    assert services is not None
    # The fleet ran for three segments: every camera's stream has shown whether it reorders.
    stats = {name: (await client.get_json(f"/api/v1/cameras/{name}", fleet.admin))["stats"]["reorders"]
             for name in MOUNTS}
    assert stats == {"plain": False, "bframes": True, "hevc": False}, stats

    # transcode: false -> 422 with the reason the wall tile puts in words.
    plain = Viewer()
    try:
        offer = await plain.offer("video/H264")
    finally:
        await plain.close()
    body = await problem(client, "POST", "/whep/live/bframes", 422, fleet.admin, data=offer, headers=dict(SDP))
    assert body["reason"] == "reordered_frames" and body["codec"] == "H.264", body
    assert "B-frames" in body["detail"] and "transcode" in body["detail"]

    # transcode: true -> the shared transcoder's H.264 at the transcode size, frame after frame.
    camera = services.cameras["bframes-tx"]
    await wait_until(lambda: camera.stats.reorders, 10, "bframes-tx never showed its B-frames")
    viewer = Viewer()
    try:
        await viewer.connect(client, "bframes-tx", fleet.admin)
        frame = await viewer.first_frame(within=5)
        assert (frame.width, frame.height) == (TRANSCODE_WIDTH, 90)
        track = await viewer.track
        pts = [frame.pts]
        for _ in range(25):
            pts.append((await asyncio.wait_for(track.recv(), 2)).pts)
        assert all(b > a for a, b in zip(pts, pts[1:], strict=False))
        assert services.webrtc.transcodes.cameras == ["bframes-tx"]
    finally:
        await viewer.close()
    live = await client.get_json("/api/v1/access-log?action=live_start&camera=bframes-tx", fleet.admin)
    [details] = [e["payload"]["details"] for e in live["entries"]]
    assert details["transcoded"] is True and details["source_codec"] == "h264", details

    # Its sub-stream has no B-frames: it goes out untouched, at the camera's own size.
    sub_feed = camera.feed("sub")
    assert sub_feed is not None and sub_feed.stats.packets_total > 50 and not sub_feed.stats.reorders
    sub = Viewer()
    try:
        await sub.connect(client, "bframes-tx?stream=sub", fleet.admin)
        frame = await sub.first_frame(within=5)
        assert (frame.width, frame.height) == (320, 180)
    finally:
        await sub.close()
