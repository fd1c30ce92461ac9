"""WHEP playback of recordings end to end: a real GStreamer camera recorded by a real gateway,
real aiortc viewers with a "control" data channel, dispositions filed and approved over HTTP.

One recording (about 6 s, a camera outage of a few seconds, 4 s more; 2 s segments and GOPs)
is shared by every test in the module, made once on SQLite and once on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Iterable
from fractions import Fraction
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from core.clock import SystemClock
from core.config import CameraConfig
from webrtc.playbackfeed import Finished, Frame, Gap, frames_in_window
from recorder.reader import GapMarker, ReadItem, SegmentOpened
from streams.packet import MediaPacket, StreamInfo
from tests.fixtures_camera import CameraServer
from tests.gatewayutil import Client, approved_disposition, make_settings, running_gateway, until
from tests.test_whep import problem
from core.utctime import format_utc as z, parse_rfc3339 as when

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]
log = logging.getLogger(__name__)

FAST = {"stall_timeout_s": 2.0, "read_timeout_s": 2.0, "open_timeout_s": 3.0,
        "backoff": {"initial_s": 0.5, "max_s": 1.0, "jitter": 0.1}}
PASSWORD = "password-123"
SDP = {"Content-Type": "application/sdp"}
FPS = 25  # tests/camera_server.py


class ShiftedClock(SystemClock):
    """The real clock plus an offset a test can set: lets a token expire without waiting days."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return super().now() + self.offset


@dataclass
class Recording:
    """The shared recording and the people around it."""

    client: Client
    server: CameraServer
    admin: str
    ops: str
    sup: str
    view: str
    before_gap: list[tuple[datetime, datetime]]  # sealed segments before the outage
    after_gap: list[tuple[datetime, datetime]]
    gap: tuple[datetime, datetime]  # the outage's gap row
    clock: ShiftedClock


class PlaybackViewer:
    """A WHEP playback client: recvonly H.264 plus the "control" data channel."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.channel = self.pc.createDataChannel("control")
        self.events: list[dict[str, Any]] = []
        self.frames: list[tuple[int, float]] = []  # (pts in 1/90000 s, monotonic arrival)
        self.sizes: set[tuple[int, int]] = set()
        self.location = ""
        self._news = asyncio.Event()
        self._track: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()
        self._receiving: asyncio.Task[None] | None = None

        @self.channel.on("message")
        def _on_message(message: str) -> None:
            self.events.append(json.loads(message))
            self._news.set()

        @self.pc.on("track")
        def _on_track(track: MediaStreamTrack) -> None:
            if not self._track.done():
                self._track.set_result(track)

    async def offer(self) -> str:
        self.pc.addTransceiver("video", direction="recvonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def play(self, client: Client, path: str, token: str, as_json: bool = False) -> float:
        """POST the offer (SDP, or the JSON form) and apply the answer; starts counting frames.
        Returns the POST's time."""
        offer = await self.offer()
        posted = time.monotonic()
        auth = {"Authorization": f"Bearer {token}"}
        body: dict[str, Any] = {"json": {"type": "offer", "sdp": offer}} if as_json else {"data": offer}
        async with client.http.post(client.url(path), headers=auth if as_json else {**auth, **SDP},
                                    **body) as resp:
            answer = await resp.text()
            assert resp.status == 201, answer
            self.location = resp.headers["Location"]
            if as_json:
                assert resp.content_type == "application/json"
                reply = json.loads(answer)
                assert reply["type"] == "answer"
                answer = reply["sdp"]
            else:
                assert resp.content_type == "application/sdp"
        assert self.location.startswith("/whep/sessions/")
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        self._receiving = asyncio.create_task(self._receive())
        return posted

    async def _receive(self) -> None:
        track = await self._track
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                self.frames.append((int(frame.pts), time.monotonic()))
                self.sizes.add((frame.width, frame.height))
                self._news.set()

    async def wait_for(self, what: str, within: float, **match: Any) -> dict[str, Any]:
        """The first event named `what` (with the given fields) not yet consumed; consumes the
        events of that name before it, and leaves the others."""
        deadline = time.monotonic() + within
        while True:
            for i, ev in enumerate(self.events):
                if ev.get("event") == what and all(ev.get(k) == v for k, v in match.items()):
                    self.events[: i + 1] = [e for e in self.events[:i] if e.get("event") != what]
                    return ev
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {what!r} event within {within} s; got {self.events}")
            self._news.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._news.wait(), left)

    async def frames_after(self, count: int, within: float) -> None:
        deadline = time.monotonic() + within
        while len(self.frames) < count:
            assert time.monotonic() < deadline, f"{len(self.frames)} frames, wanted {count}"
            self._news.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._news.wait(), 0.5)

    def send(self, **command: Any) -> None:
        self.channel.send(json.dumps(command))

    async def close(self) -> None:
        await self.pc.close()
        if self._receiving is not None:
            self._receiving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._receiving


async def spans(client: Client, token: str, start: datetime, end: datetime) -> dict[str, Any]:
    return await client.get_json(f"/api/v1/recordings?camera=gate&start={z(start)}&end={z(end)}", token)  # type: ignore[no-any-return]


async def disposition(
    rec: Recording, start: datetime, end: datetime, max_views: int, valid_days: int = 7
) -> tuple[str, str]:
    """File a request for camera gate, approve it: (token, token id)."""
    return await approved_disposition(rec.client, rec.ops, rec.sup, "gate", start, end, max_views, valid_days)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rec(tmp_path_factory: pytest.TempPathFactory, module_db_url: str) -> AsyncIterator[Recording]:
    tmp: Path = tmp_path_factory.mktemp("playback")
    server = CameraServer({"live": "ball"})
    server.start()
    cams = [CameraConfig(id="gate", name="Gate", source=server.url("live"), **FAST),
            CameraConfig(id="lobby", source="rtsp://127.0.0.1:9/x", enabled=False)]
    settings = make_settings(tmp, module_db_url, cams,
                             recording={"segment_s": 2, "min_free_bytes": 0})
    clock = ShiftedClock()
    try:
        async with running_gateway(settings, clock) as client:
            services = client.gateway.services
            assert services is not None
            admin = await client.sign_in("admin", client.admin_password())
            for name, role in [("ops", "operator"), ("sup", "supervisor"), ("view", "viewer")]:
                await services.users.add(name, role, PASSWORD)
            ops, sup, view = [await client.sign_in(n, PASSWORD) for n in ("ops", "sup", "view")]
            began = datetime.now(UTC) - timedelta(minutes=1)
            far = began + timedelta(hours=1)

            async def sealed(n: int) -> list[dict[str, Any]] | None:
                segments = (await spans(client, admin, began, far))["segments"]
                return segments if len(segments) >= n else None

            # Three sealed 2 s segments, then the camera dies for a few seconds, then two more.
            first = await until(lambda: sealed(3), 40, "three segments")
            server.stop()
            await until(lambda: _gap_open(client, admin, began, far), 20, "the outage recorded as a gap")
            await asyncio.sleep(2.0)  # the outage lasts: a gap worth seeing
            server.start()
            body = await until(lambda: _after_gap(client, admin, began, far, 2), 40, "two segments after")
            segments = [(when(s["start"]), when(s["end"])) for s in body["segments"]]
            gap_row = next(g for g in body["gaps"] if g["end"] is not None)
            gap = (when(gap_row["start"]), when(gap_row["end"]))
            before = [s for s in segments if s[1] <= gap[0]]
            after = [s for s in segments if s[0] >= gap[0]]
            assert len(before) >= len(first) and len(after) >= 2, body
            yield Recording(client, server, admin, ops, sup, view, before, after, gap, clock)
    finally:
        server.stop()


async def _gap_open(client: Client, token: str, start: datetime, end: datetime) -> bool:
    return any(g["end"] is None for g in (await spans(client, token, start, end))["gaps"])


async def _after_gap(client: Client, token: str, start: datetime, end: datetime, n: int) -> dict[str, Any] | None:
    body = await spans(client, token, start, end)
    closed = [g for g in body["gaps"] if g["end"] is not None]
    if not closed:
        return None
    later = [s for s in body["segments"] if when(s["start"]) >= when(closed[0]["start"])]
    return body if len(later) >= n else None


async def expected_frames(rec: Recording, start: datetime, end: datetime) -> list[float]:
    """Times of the video frames a playback of [start, end) must send, read straight from the
    recorder: the first keyframe at or after start, then every frame before end (no gap inside)."""
    services = rec.client.gateway.services
    assert services is not None and services.recorder is not None
    times: list[float] = []
    video: int | None = None
    async for item in services.recorder.reader.read("gate", start, end):
        if isinstance(item, GapMarker):
            assert not times, "expected an unbroken window"
        elif isinstance(item, SegmentOpened):
            video = next(s.index for s in item.streams if s.kind == "video")
        elif item.stream == video and start.timestamp() <= item.wallclock < end.timestamp():
            if times or item.is_keyframe:
                times.append(item.wallclock)
    return times


async def log_entries(rec: Recording, action: str) -> list[dict[str, Any]]:
    body = await rec.client.get_json(f"/api/v1/access-log?action={action}&limit=1000", rec.admin)
    return [e["payload"] for e in body["entries"]]


async def test_disposition_plays_exactly_its_window_and_stops_at_the_end(rec: Recording) -> None:
    client = rec.client
    seg = rec.before_gap
    # A window that starts mid-GOP (0.7 s into a segment) and ends mid-GOP.
    start, end = seg[0][0] + timedelta(seconds=0.7), seg[2][0] + timedelta(seconds=0.9)
    token, token_id = await disposition(rec, start, end, max_views=1)
    expected = await expected_frames(rec, start, end)
    assert expected and expected[0] >= start.timestamp() and expected[-1] < end.timestamp()

    viewer = PlaybackViewer()
    try:
        posted = await viewer.play(client, f"/whep/playback/gate?start={z(start)}&end={z(end)}", token)
        await viewer.frames_after(1, within=10)
        first_frame_s = viewer.frames[0][1] - posted
        print(f"\nWHEP playback: POST to first decoded frame {first_frame_s:.3f} s")
        log.warning("WHEP playback: POST to first decoded frame %.3f s", first_frame_s)
        assert first_frame_s < 5  # the issue targets < 1 s; this machine is shared
        assert viewer.sizes == {(640, 360)}
        metrics = await _metrics(client)
        assert 'pantau_whep_playback_sessions{camera="gate"} 1.0' in metrics
        assert 'pantau_whep_sessions{camera="gate"} 0.0' in metrics

        ended = await viewer.wait_for("end", within=len(expected) / FPS + 15)
        assert when(ended["at"]).timestamp() == pytest.approx(expected[-1], abs=1e-5)
        await asyncio.sleep(0.3)  # anything still in flight arrives
        # Every frame of the window and nothing else: the count matches the recording (aiortc's
        # jitter buffer hands a frame on only when the next one starts, so the viewer holds the
        # last one back), and the viewer's RTP clock spans the recorded span (1x, no pauses).
        assert len(expected) - 1 <= len(viewer.frames) <= len(expected)
        span = (viewer.frames[-1][0] - viewer.frames[0][0]) / 90_000
        assert span == pytest.approx(expected[len(viewer.frames) - 1] - expected[0], abs=1.0)
        assert all(b[0] > a[0] for a, b in zip(viewer.frames, viewer.frames[1:], strict=False))

        # Only the token that opened the session ends it.
        other, _ = await disposition(rec, start, end, max_views=1)
        await problem(client, "DELETE", viewer.location, 404, other)
        await problem(client, "DELETE", viewer.location, 404, rec.view)
        async with client.http.delete(client.url(viewer.location),
                                      headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200
        assert 'pantau_whep_playback_sessions{camera="gate"} 0.0' in await _metrics(client)
    finally:
        await viewer.close()

    [started] = [e for e in await log_entries(rec, "playback_start") if e.get("token_id") == token_id]
    assert (when(started["start"]), when(started["end"])) == (start, end)
    assert started["request_id"] and started["actor"] == "Budi Santoso"
    [stopped] = [e for e in await log_entries(rec, "playback_stop") if e.get("token_id") == token_id]
    assert when(stopped["start"]).timestamp() == pytest.approx(expected[0], abs=1e-5)
    assert when(stopped["end"]).timestamp() == pytest.approx(expected[-1], abs=1e-5)
    assert stopped["details"]["frames"] == len(expected) and stopped["details"]["duration_s"] > 0
    redeemed = [e for e in await log_entries(rec, "token_redeemed") if e.get("token_id") == token_id]
    assert [e["outcome"] for e in redeemed] == ["allow"]


async def test_control_channel_pause_seek_speed_and_views_run_out(rec: Recording) -> None:
    client = rec.client
    seg = rec.before_gap
    start, end = seg[0][0] + timedelta(seconds=0.7), seg[2][0] + timedelta(seconds=0.9)
    token, token_id = await disposition(rec, start, end, max_views=1)
    viewer = PlaybackViewer()
    try:
        await viewer.play(client, f"/whep/playback/gate?start={z(start)}&end={z(end)}", token)
        await viewer.frames_after(5, within=10)
        opened = await client.get_json(f"/api/v1/dispositions/{token_id}", rec.sup)
        assert (opened["views_used"], opened["camera_views"]) == (1, {"gate": 1}), opened
        # A token holder plays at most the disposition's max_rate (1x by default).
        viewer.send(op="speed", rate=2)
        assert "rate must be 0.5-1" in (await viewer.wait_for("error", within=5))["detail"]
        viewer.send(op="speed", rate=0.5)
        await viewer.wait_for("position", within=5, rate=0.5)
        viewer.send(op="jump")
        await viewer.wait_for("error", within=5)
        viewer.send(op="seek", to=z(end + timedelta(seconds=1)))
        assert "authorized window" in (await viewer.wait_for("error", within=5))["detail"]
        viewer.send(op="seek", to=z(start - timedelta(milliseconds=1)))
        await viewer.wait_for("error", within=5)

        viewer.send(op="pause")
        await viewer.wait_for("position", within=5, paused=True)
        await asyncio.sleep(0.3)  # frames already on the wire arrive
        held = len(viewer.frames)
        paused_at = (await viewer.wait_for("position", within=5, paused=True))["at"]
        await asyncio.sleep(1.0)
        assert len(viewer.frames) == held, "frames arrived while paused"
        assert (await viewer.wait_for("position", within=5, paused=True))["at"] == paused_at

        # Seek back to the start of the window while paused, then play at 1x again.
        target = start + timedelta(seconds=0.1)
        viewer.send(op="seek", to=z(target))
        assert when((await viewer.wait_for("position", within=5))["at"]) == target
        viewer.send(op="speed", rate=1)
        viewer.send(op="play")
        await viewer.frames_after(held + 5, within=10)
        positions: list[datetime] = []
        while len(positions) < 2:
            ev = await viewer.wait_for("position", within=5, paused=False)
            positions.append(when(ev["at"]))
        # Playing again from the first keyframe at or after the seek target, inside the window.
        assert target <= positions[0] < end and positions[1] > positions[0]
        # Seeking inside the open session redeemed nothing: the one view stays the one used.
        shown = await client.get_json(f"/api/v1/dispositions/{token_id}", rec.sup)
        assert (shown["views_used"], shown["camera_views"]) == (1, {"gate": 1}), shown
        await viewer.wait_for("end", within=15)
        async with client.http.delete(client.url(viewer.location),
                                      headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200
    finally:
        await viewer.close()
    [stopped] = [e for e in await log_entries(rec, "playback_stop") if e.get("token_id") == token_id]
    assert stopped["details"]["seeks"] == 1
    assert start <= when(stopped["start"]) and when(stopped["end"]) < end

    # The only view is used: another playback is refused before any media, with the reason logged.
    viewer = PlaybackViewer()
    try:
        offer = await viewer.offer()
        body = await problem(client, "POST", f"/whep/playback/gate?start={z(start)}&end={z(end)}", 403, token,
                             data=offer, headers=dict(SDP))
        assert "views" in body["detail"]
    finally:
        await viewer.close()
    redeemed = [e for e in await log_entries(rec, "token_redeemed") if e.get("token_id") == token_id]
    assert [e["outcome"] for e in redeemed] == ["allow", "deny"]


async def _stopped(rec: Recording, token_id: str, n: int) -> bool:
    return len([e for e in await log_entries(rec, "playback_stop") if e.get("token_id") == token_id]) >= n


async def test_revoked_mid_session_ends_the_session(rec: Recording) -> None:
    client = rec.client
    seg = rec.before_gap
    start, end = seg[0][0], seg[-1][1]
    token, token_id = await disposition(rec, start, end, max_views=3)
    viewer = PlaybackViewer()
    try:
        await viewer.play(client, f"/whep/playback/gate?start={z(start)}&end={z(end)}", token)
        await viewer.frames_after(3, within=10)
        async with client.http.post(client.url(f"/api/v1/dispositions/{token_id}/revocation"),
                                    json={"reason": "letter withdrawn"},
                                    headers={"Authorization": f"Bearer {rec.sup}"}) as resp:
            assert resp.status == 201
        revoked = time.monotonic()
        closed = await viewer.wait_for("closed", within=5)
        assert "revoked" in closed["reason"]
        await until(lambda: _stopped(rec, token_id, 1), 10, "PLAYBACK_STOP after revocation")
        took = time.monotonic() - revoked
        log.warning("revocation ended the playback after %.2f s", took)
        assert took < 4
        frames = len(viewer.frames)
        await asyncio.sleep(0.5)
        assert len(viewer.frames) == frames
    finally:
        await viewer.close()
    [stopped] = [e for e in await log_entries(rec, "playback_stop") if e.get("token_id") == token_id]
    assert "revoked" in stopped["reason"]
    assert start <= when(stopped["start"]) <= when(stopped["end"]) < end
    viewer = PlaybackViewer()
    try:
        offer = await viewer.offer()
        await problem(client, "POST", f"/whep/playback/gate?start={z(start)}&end={z(end)}", 403, token,
                      data=offer, headers=dict(SDP))
    finally:
        await viewer.close()


async def test_operator_plays_across_a_gap_at_speed_and_a_viewer_is_refused(rec: Recording) -> None:
    client = rec.client
    start = rec.before_gap[-2][0] + timedelta(seconds=0.5)  # plays from the last GOP before the gap
    end = rec.after_gap[1][1]
    viewer = PlaybackViewer()
    try:
        offer = await viewer.offer()
        path = f"/whep/playback/gate?start={z(start)}&end={z(end)}"
        body = await problem(client, "POST", path, 403, rec.view, data=offer, headers=dict(SDP))
        assert "disposition" in body["detail"]
    finally:
        await viewer.close()

    viewer = PlaybackViewer()
    try:
        await viewer.play(client, path, rec.ops)
        await viewer.frames_after(1, within=10)
        viewer.send(op="speed", rate=9)
        assert "rate must be 0.5-8" in (await viewer.wait_for("error", within=5))["detail"]
        viewer.send(op="speed", rate=4)
        await viewer.wait_for("position", within=5, rate=4)
        sped = time.monotonic()
        gap = await viewer.wait_for("gap", within=10)
        ms = timedelta(milliseconds=1)
        assert abs(when(gap["start"]) - rec.before_gap[-1][1]) < ms, (gap, rec.before_gap)
        assert abs(when(gap["end"]) - rec.after_gap[0][0]) < ms and gap["reason"], (gap, rec.after_gap)
        ended = await viewer.wait_for("end", within=15)
        took = time.monotonic() - sped
        media = (end - start).total_seconds() - (rec.after_gap[0][0] - rec.before_gap[-1][1]).total_seconds()
        log.warning("%.1f s of media (gap skipped) played in %.2f s at 4x", media, took)
        assert took < media / 2  # clearly faster than real time, and the gap was not waited out
        assert when(ended["at"]) >= rec.after_gap[0][0]  # frames after the gap were sent
        # The owner ends it (another user's session is not there for them).
        await problem(client, "DELETE", viewer.location, 404, rec.sup)
        async with client.http.delete(client.url(viewer.location),
                                      headers={"Authorization": f"Bearer {rec.ops}"}) as resp:
            assert resp.status == 200
    finally:
        await viewer.close()
    [stopped] = [e for e in await log_entries(rec, "playback_stop") if e["actor"] == "ops"]
    assert stopped["role"] == "operator" and "token_id" not in stopped and stopped["reason"] == "ended by ops"
    assert start <= when(stopped["start"]) and when(stopped["end"]) < end
    decisions = await log_entries(rec, "decision")
    assert any(e["actor"] == "view" and e["outcome"] == "deny" for e in decisions)


async def test_signing_out_ends_an_operators_playback(rec: Recording) -> None:
    from gateway.http.auth import SIGNED_OUT

    client = rec.client
    second = await client.sign_in("ops", PASSWORD)  # a second sign-in, ended below
    start, end = rec.before_gap[0][0], rec.before_gap[-1][1]
    viewer = PlaybackViewer()
    try:
        await viewer.play(client, f"/whep/playback/gate?start={z(start)}&end={z(end)}", second)
        await viewer.frames_after(1, within=10)
        async with client.http.delete(client.url("/api/v1/session"),
                                      headers={"Authorization": f"Bearer {second}"}) as resp:
            assert resp.status in (200, 204)
        closed = await viewer.wait_for("closed", within=5)
        assert closed["reason"] == SIGNED_OUT
    finally:
        await viewer.close()

    async def logged() -> list[dict[str, Any]]:
        return [e for e in await log_entries(rec, "playback_stop") if e.get("reason") == SIGNED_OUT]

    [stopped] = await until(logged, 10, "playback_stop after sign-out")
    assert stopped["actor"] == "ops"


async def test_refusals_are_clean_4xx(rec: Recording) -> None:
    client = rec.client
    seg = rec.before_gap
    start, end = seg[0][0], seg[1][1]
    token, token_id = await disposition(rec, start, end, max_views=1)
    good, vp8 = PlaybackViewer(), PlaybackViewer()
    try:
        offer = await good.offer()
        vp8.pc.addTransceiver("video", direction="recvonly").setCodecPreferences(
            [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/VP8"])
        await vp8.pc.setLocalDescription(await vp8.pc.createOffer())
        vp8_offer = vp8.pc.localDescription.sdp
    finally:
        await good.close()
        await vp8.close()
    window = f"start={z(start)}&end={z(end)}"
    sdp = dict(SDP)

    async def refused(path: str, status: int, bearer: str | None, **kwargs: Any) -> dict[str, Any]:
        if "json" not in kwargs:
            kwargs.setdefault("data", offer)
            kwargs.setdefault("headers", dict(sdp))
        return await problem(client, "POST", path, status, bearer, **kwargs)

    # A token for camera gate cannot play lobby: for it, lobby does not exist (the same answer as a
    # camera nobody has, so a token cannot enumerate cameras). Outside its window is refused.
    other = await refused(f"/whep/playback/lobby?{window}", 404, token)
    nowhere = await refused(f"/whep/playback/nowhere?{window}", 404, token)
    assert other["detail"].replace("lobby", "X") == nowhere["detail"].replace("nowhere", "X")
    # The token is checked before the offer is read: one we did not sign is 401 even with junk
    # (refused before the route, with no access-log entry: gateway/refusallog.py).
    await refused(f"/whep/playback/gate?{window}", 401, "not.a.token", data="junk")
    outside = f"start={z(start - timedelta(seconds=5))}&end={z(end)}"
    await refused(f"/whep/playback/gate?{outside}", 403, token)
    await refused(f"/whep/playback/gate?{window}", 401, None)
    await refused(f"/whep/playback/gate?{window}", 401, "pts_not-a-session")
    await refused(f"/whep/playback/gate?{window}", 401, "not.a.token")
    # Bad input, refused before the token is redeemed (no view used).
    await refused(f"/whep/playback/nowhere?{window}", 404, token)
    await refused("/whep/playback/gate", 400, token)
    await refused(f"/whep/playback/gate?start=yesterday&end={z(end)}", 400, token)
    await refused(f"/whep/playback/gate?start=2026-01-01T00:00:00&end={z(end)}", 400, token)
    await refused(f"/whep/playback/gate?start={z(end)}&end={z(start)}", 400, token)
    await refused(f"/whep/playback/gate?start={z(start - timedelta(days=2))}&end={z(end)}", 400, rec.ops)
    await refused(f"/whep/playback/gate?{window}", 415, token, headers={"Content-Type": "text/plain"})
    await refused(f"/whep/playback/gate?{window}", 413, token, data=offer + "a=x\r\n" * 20_000)
    body = await refused(f"/whep/playback/gate?{window}", 400, token, data=vp8_offer)
    assert "H.264" in body["detail"]
    broken = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\nc=nonsense\r\n"
    await refused(f"/whep/playback/gate?{window}", 400, token, data=broken)
    await refused(f"/whep/playback/gate?{window}", 400, token, json={"type": "answer", "sdp": offer})
    # None of that used the token's only view: the refusals above were all before redemption,
    # except the wrong window, which redeem() refused and logged; the wrong camera is a decision entry.
    redeemed = [e for e in await log_entries(rec, "token_redeemed") if e.get("token_id") == token_id]
    assert [e["outcome"] for e in redeemed] == ["deny"]
    assert {e["reason"].split(":")[0] for e in redeemed} == {"token_wrong_time_range"}
    wrong_camera = [e for e in await log_entries(rec, "decision") if e.get("camera") == "lobby"]
    assert wrong_camera and wrong_camera[0]["reason"].startswith("token_wrong_camera")
    services = client.gateway.services
    assert services is not None and services.webrtc is not None
    assert services.webrtc.viewers("gate") == 0


async def test_token_expiring_mid_session_ends_it(rec: Recording) -> None:
    """Runs last: it moves the gateway's clock a day ahead for a moment."""
    client = rec.client
    start, end = rec.before_gap[0][0], rec.before_gap[-1][1]
    token, token_id = await disposition(rec, start, end, max_views=1, valid_days=1)
    viewer = PlaybackViewer()
    try:
        await viewer.play(client, f"/whep/playback/gate?start={z(start)}&end={z(end)}", token, as_json=True)
        await viewer.frames_after(3, within=10)
        rec.clock.offset = timedelta(days=1, seconds=1)
        try:
            closed = await viewer.wait_for("closed", within=5)
        finally:
            rec.clock.offset = timedelta(0)  # sign-in sessions would expire too
        assert "expired" in closed["reason"]
        await until(lambda: _stopped(rec, token_id, 1), 10, "PLAYBACK_STOP after expiry")
    finally:
        await viewer.close()
    [stopped] = [e for e in await log_entries(rec, "playback_stop") if e.get("token_id") == token_id]
    assert "expired" in stopped["reason"] and stopped["details"]["frames"] >= 3


T0 = datetime(2026, 3, 9, 1, 0, tzinfo=UTC)
SPS_PPS = b"\x00\x00\x00\x01\x67sps\x00\x00\x00\x01\x68pps"
AVCC = b"\x01\x4d\x00\x1f\xff\xe1\x00\x04\x67sps\x01\x00\x04\x68pps"  # avcC: one SPS, one PPS


def _packet(stream: int, at: float, key: bool = False) -> MediaPacket:
    nal = b"\x00\x00\x00\x01" + (b"\x65" if key else b"\x41") + f"{at:.2f}".encode()
    return MediaPacket(stream, nal, round(at * 90_000), round(at * 90_000), key, 0.0, T0.timestamp() + at)


async def _items(items: Iterable[ReadItem]) -> AsyncIterator[ReadItem]:
    for item in items:
        yield item


def _opened(codec: str = "h264") -> SegmentOpened:
    return SegmentOpened(1, "x.mp4", T0, T0 + timedelta(seconds=10), "0" * 64, (
        StreamInfo(0, "video", codec, Fraction(1, 90_000), AVCC if codec == "h264" else None),
        StreamInfo(1, "audio", "aac", Fraction(1, 8000)),
    ))


async def test_window_cut_to_the_frame_from_a_keyframe_and_again_after_a_gap() -> None:
    """The feed itself, on hand-made reader items: the cut points, SPS/PPS, audio, gaps."""
    s = T0.timestamp()
    items: list[ReadItem] = [
        _opened(),
        _packet(0, 0.0, key=True), _packet(0, 0.5), _packet(1, 0.6),  # before start: never sent
        _packet(0, 1.0),  # inside, but a passthrough cannot start mid-GOP
        _packet(0, 2.0, key=True), _packet(1, 2.1), _packet(0, 2.5),
        GapMarker(T0 + timedelta(seconds=3), T0 + timedelta(seconds=5), "camera offline"),
        _packet(0, 5.2),  # after a gap the decoder needs a keyframe again
        _packet(0, 6.0, key=True), _packet(0, 6.96), _packet(0, 7.0),  # end is exclusive
    ]
    start, end = T0 + timedelta(seconds=0.9), T0 + timedelta(seconds=7)
    got = [x async for x in frames_in_window(_items(items), start, end)]
    frames = [x for x in got if isinstance(x, Frame)]
    assert [round(f.at - s, 2) for f in frames] == [2.0, 2.5, 6.0, 6.96]
    assert [type(x) for x in got] == [Frame, Frame, Gap, Frame, Frame]
    assert frames[0].data.startswith(SPS_PPS) and not frames[1].data.startswith(b"\x00\x00\x00\x01\x67")
    gap = got[2]
    assert isinstance(gap, Gap) and (gap.start - s, gap.end - s, gap.reason) == (3.0, 5.0, "camera offline")
    # A gap reaching outside the window is clipped to it.
    clipped = [x async for x in frames_in_window(
        _items([GapMarker(T0, T0 + timedelta(seconds=9), "no recording")]), start, end)]
    assert clipped == [Gap(start.timestamp(), end.timestamp(), "no recording")]
    # A recording WebRTC passthrough cannot carry ends the feed with a reason, sending nothing.
    hevc = [x async for x in frames_in_window(_items([_opened("hevc"), _packet(0, 2.0, key=True)]), start, end)]
    assert hevc == [Finished("recorded as hevc; WebRTC passthrough needs H.264")]


async def _metrics(client: Client) -> str:
    async with client.http.get(client.url("/metrics")) as resp:
        return await resp.text()
