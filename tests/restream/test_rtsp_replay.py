"""RTSP replay end to end: a GStreamer camera recorded with a gap, replayed through a real gateway to
ffmpeg (`/CAMERA_ID/playback?start=&end=`) and to a Profile G client speaking RTSP by hand
(`Require: onvif-replay`, `Range: clock=`); the first picture each receives is matched, byte for
byte, with the sealed recording to prove where the replay started."""

from __future__ import annotations

import asyncio
import hashlib
import re
import struct
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import onvif_adapters  # noqa: F401  (imports onvif with the root logger kept)
from core.config import CameraConfig
from onvif import ONVIFCamera
from core.utctime import format_utc
from recorder.reader import GapMarker, SegmentOpened
from restream.replayrequest import format_clock
from tests.fixtures_camera import free_port
from tests.fixtures_onvif import free_udp_port
from tests.gatewayutil import make_settings, running_gateway, until
from tests.restream.test_rtsp_restream import decode_errors, entries, ffmpeg, frames_in, probe

pytestmark = pytest.mark.slow

PASSWORD = "nvr-password-1"
FPS = 25
GOP_S = 2.0  # the test camera's keyframe interval (50 frames)


def replay_settings(tmp_path: Path, url: str, **extra: Any) -> Any:
    cameras = [CameraConfig(id="cam", source=url, groups=["gates"]),
               # Visible to the integrator live, but its recordings are not (no playback rule for "yard").
               CameraConfig(id="yard", source=url, groups=["yard"])]
    return make_settings(
        tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cameras,
        recording={"segment_s": 2, "min_free_bytes": 0},
        access={"visibility": {"admin": ["*"], "integrator": ["gates", "yard"]},
                "playback": {"admin": {"groups": ["*"]}, "integrator": {"groups": ["gates"]}}},
        restream={"rtsp": {"enabled": True, "host": "127.0.0.1", "port": free_port()}}, **extra,
    )


def idr_nal(annexb: bytes) -> bytes:
    """The first IDR slice NAL unit (type 5) of an Annex B H.264 stream, without its start code."""
    for nal in re.split(rb"\x00\x00\x00\x01|\x00\x00\x01", annexb):
        if nal and nal[0] & 0x1F == 5:
            return nal.rstrip(b"\x00")
    raise AssertionError("no IDR picture received")


async def keyframes(services: Any, start: datetime, end: datetime) -> list[tuple[float, bytes]]:
    """The recorded keyframes of cam in [start, end): (recorded time, Annex B bytes)."""
    found = []
    async for item in services.recorder.reader.read("cam", start, end):
        if not isinstance(item, SegmentOpened | GapMarker) and item.is_keyframe and item.stream == 0:
            found.append((item.wallclock, item.data))
    return found


async def recorded_frames(services: Any, first: float, end: datetime) -> int:
    """How many pictures of cam were recorded in [first, end)."""
    count = 0
    async for item in services.recorder.reader.read("cam", end - timedelta(seconds=30), end):
        if not isinstance(item, SegmentOpened | GapMarker) and item.stream == 0 and first <= item.wallclock < end.timestamp():
            count += 1
    return count


async def recorded_at(services: Any, nal: bytes, around: datetime) -> float:
    """When the keyframe holding `nal` was recorded."""
    for at, data in await keyframes(services, around - timedelta(seconds=10), around + timedelta(seconds=10)):
        if nal[:4000] in data:
            return at
    raise AssertionError("the first picture received is not a recorded keyframe")


async def test_ffmpeg_replays_from_the_requested_time_and_skips_the_gap(tmp_path: Path, camera_server: Any) -> None:
    camera = camera_server({"live": "ball"})
    settings = replay_settings(tmp_path, camera.url("live"))
    async with running_gateway(settings) as client:
        services = client.gateway.services
        assert services is not None and client.gateway.rtsp is not None
        await services.users.add("nvr", "integrator", PASSWORD)
        port = client.gateway.rtsp.port
        url = f"rtsp://nvr:{PASSWORD}@127.0.0.1:{port}"
        index = services.recorder.index

        async def recorded_s(least: float) -> bool:
            span = await index.span("cam")
            return span is not None and (span[1] - span[0]).total_seconds() >= least

        await until(lambda: recorded_s(8), 40, "8 s recorded")
        camera.stop()
        await asyncio.sleep(5)
        camera.start()

        async def after_gap() -> bool:
            gaps = await index.gaps("cam", None, None)
            span = await index.span("cam")
            return bool(gaps) and gaps[0].end is not None and span is not None and \
                (span[1] - gaps[0].end).total_seconds() >= 6

        await until(after_gap, 60, "6 s recorded after the gap")
        segments = await index.segments("cam", None, None)
        first_end = next(s.end for s, n in zip(segments, segments[1:], strict=False) if n.start - s.end > timedelta(seconds=1))
        second_start = next(s.start for s in segments if s.start > first_end)

        # From a time that is not a keyframe, 4 s: ffmpeg gets the picture from the keyframe at or
        # before it, paced in real time, and the stream ends at `end`.
        start = segments[0].start + timedelta(seconds=3.3)
        end = start + timedelta(seconds=4)
        out = tmp_path / "replay.h264"
        began = time.monotonic()
        rc, err = await ffmpeg("-v", "error", "-rtsp_transport", "tcp", "-i",
                               f"{url}/cam/playback?start={format_utc(start)}&end={format_utc(end)}",
                               "-c", "copy", "-f", "h264", "-y", str(out))
        took = time.monotonic() - began
        assert rc == 0, err
        assert await decode_errors(out) == ""
        first = await recorded_at(services, idr_nal(out.read_bytes()), start)
        assert start.timestamp() - GOP_S - 0.1 <= first <= start.timestamp(), (first, start)
        frames = await frames_in(out)
        expected = await recorded_frames(services, first, end)
        assert expected - 2 <= frames <= expected, (frames, expected)  # every recorded frame, to the end
        assert took >= 3.0, f"not paced: {took:.1f} s for 4 s of recording"

        # Across the gap: both sides are replayed, the gap is skipped (not waited out).
        start, end = first_end - timedelta(seconds=2), second_start + timedelta(seconds=2)
        out = tmp_path / "gap.h264"
        began = time.monotonic()
        rc, err = await ffmpeg("-v", "error", "-rtsp_transport", "tcp", "-i",
                               f"{url}/cam/playback?start={format_utc(start)}&end={format_utc(end)}",
                               "-c", "copy", "-f", "h264", "-y", str(out))
        took = time.monotonic() - began
        gap_s = (second_start - first_end).total_seconds()
        assert rc == 0, err
        assert await decode_errors(out) == ""
        assert 3.5 * FPS <= await frames_in(out) <= (4 + 2 * GOP_S) * FPS
        assert took < 4 + 2 * GOP_S + gap_s - 1, f"the {gap_s:.1f} s gap was waited out: {took:.1f} s"

        # Refusals: a bad query, a camera whose recordings the account may not replay, one it does
        # not see, and a wrong password.
        for path, status in (("cam/playback?start=yesterday", "400"), ("yard/playback", "403"),
                             ("nosuch/playback", "404")):
            rc, err = await ffmpeg("-v", "error", "-rtsp_transport", "tcp", "-i", f"{url}/{path}", "-t", "1",
                                   "-f", "null", "-")
            assert rc != 0 and status in err, (path, err)
        rc, err = await ffmpeg("-v", "error", "-rtsp_transport", "tcp", "-i",
                               f"rtsp://nvr:wrong@127.0.0.1:{port}/cam/playback", "-t", "1", "-f", "null", "-")
        assert rc != 0 and "401" in err, err

        admin = await client.sign_in("admin", client.admin_password())

        async def stops() -> list[dict[str, Any]]:
            found = [e for e in await entries(client, admin, "playback_stop") if e["details"].get("via") == "rtsp"]
            return found if len(found) >= 2 else []

        stopped = await until(stops, 10, "two playback_stop entries")
        started = [e for e in await entries(client, admin, "playback_start") if e["details"].get("via") == "rtsp"]
        assert len(started) == 2 and {e["camera"] for e in started} == {"cam"}
        assert started[0]["details"]["stream"] == "playback" and started[0]["details"]["start"]
        for entry in stopped:
            assert entry["actor"] == "nvr" and entry["details"]["bytes"] > 0 and entry["details"]["frames"] > 50
            assert entry["details"]["reached_end"] is True
        denied = [e for e in await entries(client, admin, "decision")
                  if e["details"].get("via") == "rtsp" and e["details"].get("action") == "playback"]
        assert "yard" in {e["camera"] for e in denied}


class RtspConnection:
    """Just enough RTSP over TCP for a Profile G client: requests, answers, interleaved RTP."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.cseq = 0

    async def request(self, method: str, url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
        self.cseq += 1
        lines = [f"{method} {url} RTSP/1.0", f"CSeq: {self.cseq}", "Require: onvif-replay",
                 *(f"{k.replace('_', '-')}: {v}" for k, v in headers.items())]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()
        while True:
            first = await asyncio.wait_for(self.reader.readexactly(1), 10)
            if first == b"$":  # interleaved data before the answer
                _channel, size = struct.unpack(">BH", await self.reader.readexactly(3))
                await self.reader.readexactly(size)
                continue
            head = first + await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
            break
        status = int(head.split(b" ", 2)[1])
        fields = {}
        for line in head.decode().split("\r\n")[1:]:
            if ":" in line:
                key, value = line.split(":", 1)
                fields[key.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(fields.get("content-length", "0")))
        return status, fields, body

    async def first_idr(self, within: float) -> bytes:
        """The first IDR NAL unit sent on channel 0 (single NAL or FU-A reassembled)."""
        deadline = time.monotonic() + within
        fragments: list[bytes] | None = None
        while time.monotonic() < deadline:
            assert await asyncio.wait_for(self.reader.readexactly(1), within) == b"$"
            channel, size = struct.unpack(">BH", await self.reader.readexactly(3))
            packet = await self.reader.readexactly(size)
            if channel != 0:
                continue
            payload = packet[12 + 4 * (packet[0] & 0x0F):]
            kind = payload[0] & 0x1F
            if kind == 5:
                return payload
            if kind == 28 and payload[1] & 0x1F == 5:  # FU-A of an IDR slice
                if payload[1] & 0x80:
                    fragments = [bytes([(payload[0] & 0xE0) | 5])]
                if fragments is not None:
                    fragments.append(payload[2:])
                    if payload[1] & 0x40:
                        return b"".join(fragments)
        raise AssertionError("no IDR picture received")


async def test_profile_g_client_seeks_with_range_clock(tmp_path: Path, camera_server: Any) -> None:
    """GetReplayUri through onvif-zeep-async, then the replay as a Profile G client plays it."""
    camera = camera_server({"live": "ball"})
    settings = replay_settings(tmp_path, camera.url("live"),
                               onvif_server={"enabled": True, "discovery": False, "discovery_port": free_udp_port()})
    async with running_gateway(settings) as client:
        services = client.gateway.services
        assert services is not None and client.gateway.rtsp is not None
        await services.users.add("nvr", "integrator", PASSWORD)
        port = client.gateway.rtsp.port

        async def recorded() -> bool:
            span = await services.recorder.index.span("cam")
            return span is not None and (span[1] - span[0]).total_seconds() >= 10

        await until(recorded, 40, "10 s recorded")
        span = await services.recorder.index.span("cam")
        assert span is not None and client.gateway.port is not None
        nvr = ONVIFCamera("127.0.0.1", client.gateway.port, "nvr", PASSWORD, adjust_time=True)
        try:
            await nvr.update_xaddrs()
            replay = await nvr.create_replay_service()
            answer = await replay.GetReplayUri({"StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
                                                "RecordingToken": "rec_cam"})
        finally:
            await nvr.close()
        url = answer if isinstance(answer, str) else answer.Uri
        assert url == f"rtsp://127.0.0.1:{port}/cam/playback"
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        rtsp = RtspConnection(reader, writer)
        try:
            # Digest, as an NVR answers the challenge.
            status, fields, _ = await rtsp.request("DESCRIBE", url, Accept="application/sdp")
            assert status == 401
            auth = digest(fields["www-authenticate"], "DESCRIBE", url)
            status, fields, sdp = await rtsp.request("DESCRIBE", url, Accept="application/sdp", Authorization=auth)
            assert status == 200 and b"H264" in sdp, (status, sdp)
            setup_url = url + "/stream=0"
            status, fields, _ = await rtsp.request(
                "SETUP", setup_url, Transport="RTP/AVP/TCP;unicast;interleaved=0-1",
                Authorization=digest(auth, "SETUP", setup_url))
            assert status == 200, fields
            session = fields["session"].split(";")[0]
            # A Range that is not a time, then one the account may not replay (in the future is fine
            # for the policy; an empty window is not: refused), then the real seek.
            status, _, _ = await rtsp.request("PLAY", url, Session=session, Range="clock=yesterday-",
                                              Authorization=digest(auth, "PLAY", url))
            assert status == 457
            seek = span[0] + timedelta(seconds=5.3)
            status, fields, _ = await rtsp.request(
                "PLAY", url, Session=session, Range=f"clock={format_clock(seek)}-", Rate_Control="no",
                Authorization=digest(auth, "PLAY", url))
            assert status == 200, fields
            nal = await rtsp.first_idr(10)
            first = await recorded_at(services, nal, seek)
            assert seek.timestamp() - GOP_S - 0.1 <= first <= seek.timestamp(), (first, seek)
            await rtsp.request("TEARDOWN", url, Session=session, Authorization=digest(auth, "TEARDOWN", url))
        finally:
            writer.close()


def digest(header: str, method: str, uri: str) -> str:
    """An Authorization header (RFC 2617 without qop, as ffmpeg answers) with the realm and nonce of
    `header`: the server's challenge, or the previous Authorization (its nonce is still fresh)."""
    nonce = re.search(r'nonce="([^"]+)"', header)
    realm = re.search(r'realm="([^"]+)"', header)
    assert nonce and realm
    return _answer("nvr", realm.group(1), nonce.group(1), method, uri)


def _answer(user: str, realm: str, nonce: str, method: str, uri: str) -> str:
    ha1 = hashlib.md5(f"{user}:{realm}:{PASSWORD}".encode()).hexdigest()  # noqa: S324  (RFC 2617 Digest)
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()  # noqa: S324
    response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()  # noqa: S324
    return f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", response="{response}"'



async def test_h265_with_its_sound_replays_over_udp(tmp_path: Path, camera_server: Any) -> None:
    """An H.265 camera with AAC: picture and sound replayed untouched, over RTP/UDP."""
    camera = camera_server({"live": "ball+h265+aac"})
    settings = replay_settings(tmp_path, camera.url("live"))
    settings = settings.model_copy(update={"cameras": [c.model_copy(update={"audio": True}) for c in settings.cameras]})
    async with running_gateway(settings) as client:
        services = client.gateway.services
        assert services is not None and client.gateway.rtsp is not None
        await services.users.add("nvr", "integrator", PASSWORD)

        async def recorded() -> bool:
            span = await services.recorder.index.span("cam")
            return span is not None and (span[1] - span[0]).total_seconds() >= 6

        await until(recorded, 40, "6 s recorded")
        span = await services.recorder.index.span("cam")
        assert span is not None
        start, end = span[0] + timedelta(seconds=1), span[0] + timedelta(seconds=5)
        out = tmp_path / "replay.mkv"
        rc, err = await ffmpeg("-v", "error", "-rtsp_transport", "udp", "-i",
                               f"rtsp://nvr:{PASSWORD}@127.0.0.1:{client.gateway.rtsp.port}/cam/playback"
                               f"?start={format_utc(start)}&end={format_utc(end)}",
                               "-c", "copy", "-y", str(out))
        assert rc == 0, err
        assert await decode_errors(out) == ""
        assert await probe(out, "v:0", "codec_name") == "hevc" and await probe(out, "a:0", "codec_name") == "aac"
        assert await frames_in(out) >= 4 * FPS * 0.9
        assert await frames_in(out, "a:0") >= 4 * 15 * 0.8  # 16 kHz AAC: 15.6 frames a second
