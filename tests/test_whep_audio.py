"""Sound over WHEP end to end: GStreamer cameras with G.711 A-law and AAC sound, a real gateway,
real aiortc viewers that measure lip sync as a browser syncs (RTCP sender reports).

The `flash` camera turns the picture white for one frame every 2 s and starts a 1 kHz beep at
the same instant (tests/camera_server.py). A viewer captures what it receives; the flash's and
the beep's RTP times, mapped to the sender's clock by each stream's latest sender report, must
lie within 100 ms of each other: a receiver that lines the streams up by those reports (every
browser does) shows the flash and plays the beep together.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from core.config import CameraConfig
from tests.fixtures_camera import CameraServer
from tests.gatewayutil import Client, make_settings, running_gateway, until
from tests.rtpcapture import BEEP_LEVEL, FLASH_LUMA, Stream, beeps, capture, flashes, offsets
from webrtc.audioframes import PcmShaper
from webrtc.playbackfeed import Frame, Sound, frames_in_window

log = logging.getLogger(__name__)

FAST = {"stall_timeout_s": 2.0, "read_timeout_s": 2.0, "open_timeout_s": 3.0,
        "backoff": {"initial_s": 0.5, "max_s": 1.0, "jitter": 0.1}}
PASSWORD = "password-123"
# The issue's bound: sound within 100 ms of the picture.
LIP_SYNC_S = 0.1
# Playback sends sound where the recording puts it, within this.
PACED_S = 0.03
# Long enough for flashes (every 2 s) and sender reports of each stream after the first 2 s.
WATCH_S = 7.5
# GStreamer's RTSP server sends each stream's first sender report within ~4 s of PLAY (RFC 3550's
# first interval: half of 5 s, randomized by 0.5-1.5); on a loaded CI machine 6 s was once not
# enough (the viewers measured the unaligned 0.67 s start-up lag).
REALIGNED_S = 10.0
# How much longer a viewer may watch for its two pairs (a camera stalled and reconnected meanwhile).
WATCH_MORE_S = 20.0
# The replayed window: two flashes (every 2 s, on the keyframes that start segments) must come
# after the first SETTLE_S (2 s) of playback, so it spans more than 6 s, whatever the segments' lengths
# (2 s each now that the first keyframe is timed; three of them hold flashes at 0, 2 and 4 s only).
REPLAY_S = 6.5


class SoundViewer:
    """A WHEP client receiving video and audio, capturing the RTP it gets."""

    def __init__(self, audio: bool = True, control: bool = False) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        # A playback's "control" data channel goes into the offer, so it is made first.
        self.channel = self.pc.createDataChannel("control") if control else None
        self.pc.addTransceiver("video", direction="recvonly")
        if audio:
            self.pc.addTransceiver("audio", direction="recvonly")
        self.streams: dict[str, Stream] = capture(self.pc)
        self.answer = ""
        self.location = ""

    async def open(self, client: Client, path: str, token: str) -> str:
        """POST the offer, apply the answer; returns the answer."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        async with client.http.post(client.url(path), data=self.pc.localDescription.sdp, headers={
                "Authorization": f"Bearer {token}", "Content-Type": "application/sdp"}) as resp:
            self.answer = await resp.text()
            assert resp.status == 201, self.answer
            self.location = resp.headers["Location"]
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=self.answer, type="answer"))
        return self.answer

    def audio_section(self) -> str:
        """The answer's audio m-section."""
        text = self.answer.replace("\r\n", "\n")
        return next(s for s in text.split("\nm=")[1:] if s.startswith("audio "))

    def sent_codec(self) -> str | None:
        """The audio codec the answer sends, or None when its audio section is inactive."""
        section = self.audio_section()
        if "a=sendonly" not in section:
            return None
        match = re.search(r"^a=rtpmap:\d+ ([\w-]+)/", section, re.MULTILINE)
        return match.group(1) if match else None

    async def close(self) -> None:
        await self.pc.close()


async def wait_up(client: Client, token: str, camera: str) -> None:
    """The camera streams (the flash camera's flat grey picture may count as degraded)."""
    async def up() -> bool:
        body = await client.get_json(f"/api/v1/cameras/{camera}", token)
        return body["state"] in ("online", "degraded")
    await until(up, 10, f"{camera} streaming")


async def test_live_sound_in_step_with_the_picture_and_only_for_roles_that_may_hear(
    tmp_path: Path, camera_server: Callable[..., CameraServer]
) -> None:
    server = camera_server({"alaw": "flash+pcma", "aac": "flash+aac"})
    cams = [CameraConfig(id="door", source=server.url("alaw"), record=False, **FAST),
            CameraConfig(id="hall", source=server.url("aac"), record=False, **FAST)]
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'pantau.db'}", cams,
                             access={"live_audio": ["operator", "supervisor", "admin"]})
    async with running_gateway(settings) as client:
        admin = await client.sign_in("admin", client.admin_password())
        services = client.gateway.services
        assert services is not None
        await services.users.add("vera", "viewer", PASSWORD)
        vera = await client.sign_in("vera", PASSWORD)
        for camera in ("door", "hall"):
            await wait_up(client, admin, camera)
        # Until the camera's first RTCP sender report of each stream, FFmpeg times each stream from
        # its own first packet; the report then moves both onto the camera's one clock (a jump in
        # one stream's times as large as its encoder's start-up lag: 0.6 s on a loaded machine).
        # The sound is in step from then on, so the viewers come after it.
        await asyncio.sleep(REALIGNED_S)
        door, hall, silent = SoundViewer(), SoundViewer(), SoundViewer()
        try:
            await asyncio.gather(door.open(client, "/whep/live/door", admin),
                                 hall.open(client, "/whep/live/hall", admin),
                                 silent.open(client, "/whep/live/door", vera))
            # G.711 goes as the camera sent it; AAC becomes Opus; a viewer role hears nothing.
            assert (door.sent_codec(), hall.sent_codec(), silent.sent_codec()) == ("PCMA", "opus", None)
            assert "a=inactive" in silent.audio_section()
            await asyncio.sleep(WATCH_S)
            watched = (("G.711", door, "PCMA"), ("AAC->Opus", hall, "opus"))
            # On a loaded machine a camera may stall and come back in the window: watch on (at most
            # WATCH_MORE_S) until each viewer has two flashes with their beeps after its settling.
            for _ in range(int(WATCH_MORE_S / 2)):
                if _paired(watched):
                    break
                await asyncio.sleep(2.0)  # each look decodes all the video so far: not often
            for name, viewer, codec in watched:
                video, audio = viewer.streams["video"], viewer.streams["audio"]
                assert video.settled() and audio.settled(), "no sender reports"
                measured = [o for _, o in offsets(video, audio, codec)]
                log.warning("live %s lip sync (sound minus picture): %s ms (sender reports disagree by up to"
                            " %.0f ms video, %.0f ms audio)", name, [round(o * 1000) for o in measured],
                            video.spread(90_000) * 1000, audio.spread(48_000 if codec == "opus" else 8000) * 1000)
                assert len(measured) >= 2, (f"{name}: {len(flashes(video))} flashes, {len(beeps(audio, codec)[0])} beeps"
                                            f" in {len(video.packets)} video and {len(audio.packets)} audio packets")
                assert all(abs(o) < LIP_SYNC_S for o in measured), measured
            assert silent.streams["video"].packets and not silent.streams["audio"].packets
        finally:
            await asyncio.gather(door.close(), hall.close(), silent.close())
        # Every session ends (and is logged) before the gateway stops.
        await until(lambda: _entries(client, admin, "live_stop", 3), 10, "three LIVE_STOP entries")
        entries = await until(lambda: _entries(client, admin, "live_start", 3), 5, "three LIVE_START entries")
        seen = sorted((e["actor"], e["camera"], e["details"]["audio"], e["details"]["audio_codec"])
                      for e in entries)
        assert seen == [("admin", "door", True, "PCMA"), ("admin", "hall", True, "opus"),
                        ("vera", "door", False, None)]


async def test_playback_sound_in_step_at_real_time_only_and_not_where_the_rule_says_no(
    tmp_path: Path, db_url: str, camera_server: Callable[..., CameraServer]
) -> None:
    server = camera_server({"aac": "flash+aac"})
    cams = [CameraConfig(id="hall", source=server.url("aac"), **FAST)]
    # Operators replay without sound; admins with it.
    rules = {"operator": {"max_age_h": 24, "audio": False}, "admin": {}}
    settings = make_settings(tmp_path, db_url, cams, recording={"segment_s": 2, "min_free_bytes": 0},
                             access={"playback": rules})
    async with running_gateway(settings) as client:
        admin = await client.sign_in("admin", client.admin_password())
        services = client.gateway.services
        assert services is not None
        await services.users.add("ops", "operator", PASSWORD)
        ops = await client.sign_in("ops", PASSWORD)
        began = datetime.now(UTC)
        start, end = await until(lambda: _sealed(client, admin, began, REPLAY_S), 40, f"{REPLAY_S} s sealed")
        window = f"/whep/playback/hall?start={_z(start)}&end={_z(end)}"
        viewer, muted = SoundViewer(control=True), SoundViewer()
        try:
            await viewer.open(client, window, admin)
            await muted.open(client, window, ops)
            assert (viewer.sent_codec(), muted.sent_codec()) == ("opus", None)
            await asyncio.sleep(WATCH_S)
            video, audio = viewer.streams["video"], viewer.streams["audio"]
            assert video.settled() and audio.settled(), "no sender reports"
            measured = offsets(video, audio, "opus")
            recorded = await recorded_offsets(client, "hall", start, end)
            log.warning("playback AAC->Opus lip sync (sound minus picture): %s ms; in the recording: %s ms",
                        [round(o * 1000) for _, o in measured], [round(o * 1000) for _, o in recorded])
            # The sound goes out where the recording puts it, to within PACED_S (aiortc's Opus
            # encoder adds ~7 ms of look-ahead); each flash is found by its place in the window.
            pairs = [(o, next(r for at, r in recorded if abs(at - when) < 0.5)) for when, o in measured
                     if any(abs(at - when) < 0.5 for at, _ in recorded)]
            assert len(pairs) >= 2 and all(abs(o - r) < PACED_S for o, r in pairs), pairs
            assert muted.streams["video"].packets and not muted.streams["audio"].packets
        finally:
            await muted.close()
        try:
            # Back to the start at twice the speed: the picture plays on and the sound stops.
            channel = viewer.channel
            assert channel is not None and channel.readyState == "open"
            channel.send(json.dumps({"op": "seek", "to": _z(start)}))
            channel.send('{"op": "speed", "rate": 2}')
            await asyncio.sleep(0.5)  # what was on its way arrives
            heard, seen = len(audio.packets), len(video.packets)
            await asyncio.sleep(1.0)
            assert len(video.packets) > seen and len(audio.packets) == heard
        finally:
            await viewer.close()
        starts = await client.get_json("/api/v1/access-log?action=playback_start&limit=10", admin)
        said = sorted((e["payload"]["actor"], e["payload"]["details"]["audio"], e["payload"]["details"]["audio_codec"])
                      for e in starts["entries"])
        assert said == [("admin", True, "opus"), ("ops", False, None)]
        stops = await until(lambda: _entries(client, admin, "playback_stop", 2), 10, "two PLAYBACK_STOP")
        frames = {e["actor"]: e["details"].get("audio_frames") for e in stops}
        assert frames["admin"] > 100 and frames["ops"] is None  # 20 ms each: over 2 s of sound


def _paired(watched: tuple[tuple[str, SoundViewer, str], ...]) -> bool:
    """Each viewer has sender reports and two flashes paired with beeps."""
    for _, viewer, codec in watched:
        video, audio = viewer.streams["video"], viewer.streams["audio"]
        if not (video.settled() and audio.settled()) or len(offsets(video, audio, codec)) < 2:
            return False
    return True


async def _sealed(client: Client, token: str, since: datetime, span_s: float) -> tuple[datetime, datetime] | None:
    """The start of the first sealed segment and the end of the first one ending `span_s` or more after it."""
    query = f"camera=hall&start={_z(since - timedelta(minutes=1))}&end={_z(datetime.now(UTC) + timedelta(minutes=1))}"
    segments = (await client.get_json(f"/api/v1/recordings?{query}", token))["segments"]
    if not segments:
        return None
    start = _when(segments[0]["start"])
    return next(((start, _when(s["end"])) for s in segments
                 if _when(s["end"]) - start >= timedelta(seconds=span_s)), None)


async def _entries(client: Client, token: str, action: str, n: int) -> list[dict[str, Any]] | None:
    body = await client.get_json(f"/api/v1/access-log?action={action}&limit=100", token)
    entries = [e["payload"] for e in body["entries"]]
    return entries if len(entries) >= n else None


def _z(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _when(raw: str) -> datetime:
    return datetime.fromisoformat(raw.replace("Z", "+00:00"))


async def recorded_offsets(client: Client, camera: str, start: datetime, end: datetime) -> list[tuple[float, float]]:
    """Per flash in the recording of [start, end) as playback reads it (webrtc.playbackfeed, and
    the sound decoded as the playback decodes it): its time after the first frame sent, and the
    beep's time minus the flash's."""
    services = client.gateway.services
    assert services is not None and services.recorder is not None
    picture = av.CodecContext.create("h264", "r")
    shaper: PcmShaper | None = None
    flashes_at: list[float] = []
    beeps_at: list[float] = []
    first: float | None = None
    loud = False
    async for item in frames_in_window(services.recorder.reader.read(camera, start, end), start, end, audio=True):
        if isinstance(item, Frame):
            first = item.at if first is None else first
            for decoded in picture.decode(av.Packet(item.data)):
                if decoded.to_ndarray(format="gray").mean() > FLASH_LUMA:
                    flashes_at.append(item.at)
        elif isinstance(item, Sound):
            if shaper is None or shaper.info != item.stream:
                shaper = PcmShaper(item.stream, 48_000)
            for piece in shaper.push(item.data, item.at):
                samples = np.frombuffer(piece.data, dtype=np.int16) / 32768
                above = np.nonzero(np.abs(samples) > BEEP_LEVEL)[0]
                if len(above) and not loud:
                    beeps_at.append(piece.at + above[0] / 48_000)
                loud = bool(len(above))
    assert first is not None
    return [(flash - first, min(beeps_at, key=lambda b: abs(b - flash)) - flash)
            for flash in flashes_at if beeps_at]
