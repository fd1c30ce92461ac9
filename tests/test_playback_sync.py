"""Synchronized multi-camera replay end to end: three GStreamer cameras whose keyframes fall at
different moments (GOPs of 50, 37 and 29 frames) recorded by a real gateway, replayed by real
aiortc viewers in one playback group (`?group=`) and, for comparison, as independent sessions.

The recording (a bit over a minute: a 2x replay for 30 s needs 60 s of it) is made once for the
module; only the group test watches for 30 s.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from core.config import CameraConfig
from core.utctime import format_utc as z
from core.utctime import parse_rfc3339 as when
from recorder.reader import GapMarker, SegmentOpened
from tests.fixtures_camera import CameraServer
from tests.gatewayutil import Client, make_settings, running_gateway, until
from tests.test_whep import problem
from tests.test_whep_playback import SDP, PlaybackViewer
from webrtc.playback import Player

# The module's recording (over a minute) is made inside whichever test runs first.
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow, pytest.mark.timeout(300)]
log = logging.getLogger(__name__)

CAMERAS = {"a": "ball+320x180+gop50+aac", "b": "ball+320x180+gop37", "c": "ball+320x180+gop29"}
FAST = {"stall_timeout_s": 2.0, "read_timeout_s": 2.0, "open_timeout_s": 3.0,
        "backoff": {"initial_s": 0.5, "max_s": 1.0, "jitter": 0.1}}
PASSWORD = "password-123"
RECORDED_S = 66.0  # a seek a few seconds in, then 30 s at 2x, with room to spare
WATCH_S = 30.0
BOUND_S = 0.2  # the issue's drift bound between tiles


@dataclass
class Recording:
    client: Client
    ops: str
    ops2: str
    start: datetime  # every camera recorded [start, end) without a gap
    end: datetime
    keyframes: dict[str, list[float]]


class Viewer(PlaybackViewer):
    """A playback viewer that keeps every position report with its arrival time (and may take sound)."""

    def __init__(self, audio: bool = False) -> None:
        super().__init__()
        self.audio = audio
        self.reports: list[tuple[float, dict[str, Any]]] = []

        @self.channel.on("message")
        def _stamp(message: str) -> None:
            ev = json.loads(message)
            if ev.get("event") == "position":
                self.reports.append((time.monotonic(), ev))

    async def offer(self) -> str:
        if self.audio:  # after the video section: the viewer's track handler takes the first track
            self.pc.addTransceiver("video", direction="recvonly")
            self.pc.addTransceiver("audio", direction="recvonly")
            await self.pc.setLocalDescription(await self.pc.createOffer())
            return str(self.pc.localDescription.sdp)
        return await super().offer()

    def extrapolated(self, now: float) -> float:
        """Where the last report says the session is at wall time `now` (POSIX seconds): its `at`
        plus rate x the time since the server sent it (a report held up on the way, by a starved
        loop or the data channel, is carried forward by as much)."""
        _, ev = self.reports[-1]
        rate = 0.0 if ev["paused"] or ev.get("held") else float(ev["rate"])
        return when(ev["at"]).timestamp() + rate * (now - when(ev["sent"]).timestamp())


async def _segments(client: Client, token: str, camera: str, start: datetime, end: datetime) -> dict[str, Any]:
    return await client.get_json(  # type: ignore[no-any-return]
        f"/api/v1/recordings?camera={camera}&start={z(start)}&end={z(end)}", token)


async def _keyframes(client: Client, camera: str, start: datetime, end: datetime) -> list[float]:
    services = client.gateway.services
    assert services is not None and services.recorder is not None
    times: list[float] = []
    video: int | None = None
    async for item in services.recorder.reader.read(camera, start, end):
        if isinstance(item, GapMarker):
            raise AssertionError(f"camera {camera}: a gap in the recording {item}")
        if isinstance(item, SegmentOpened):
            video = next(s.index for s in item.streams if s.kind == "video")
        elif item.stream == video and item.is_keyframe and start.timestamp() <= item.wallclock < end.timestamp():
            times.append(item.wallclock)
    return times


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rec(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Recording]:
    tmp: Path = tmp_path_factory.mktemp("sync")
    server = CameraServer(CAMERAS)
    server.start()
    cams = [CameraConfig(id=cid, name=f"Camera {cid.upper()}", source=server.url(cid), **FAST) for cid in CAMERAS]
    settings = make_settings(tmp, f"sqlite+aiosqlite:///{tmp / 'pantau.db'}", cams,
                             recording={"segment_s": 4, "min_free_bytes": 0})
    try:
        async with running_gateway(settings) as client:
            services = client.gateway.services
            assert services is not None
            await services.users.add("ops", "operator", PASSWORD)
            await services.users.add("ops2", "operator", PASSWORD)
            ops, ops2 = await client.sign_in("ops", PASSWORD), await client.sign_in("ops2", PASSWORD)
            began = datetime.now(UTC) - timedelta(minutes=1)
            far = began + timedelta(hours=1)

            async def covered() -> tuple[datetime, datetime] | None:
                firsts, lasts = [], []
                for cid in CAMERAS:
                    body = await _segments(client, ops, cid, began, far)
                    if not body["segments"]:
                        return None
                    firsts.append(when(body["segments"][0]["start"]))
                    lasts.append(when(body["segments"][-1]["end"]))
                start, end = max(firsts), min(lasts)
                return (start, end) if (end - start).total_seconds() >= RECORDED_S else None

            start, end = await until(covered, RECORDED_S + 60, f"{RECORDED_S:g} s recorded by every camera")
            keyframes = {cid: await _keyframes(client, cid, start, end) for cid in CAMERAS}
            yield Recording(client, ops, ops2, start, end, keyframes)
    finally:
        server.stop()


def spread_target(rec: Recording) -> tuple[datetime, float]:
    """A seek target a few seconds in where the cameras' first keyframes at or after it lie
    furthest apart (independent sessions start there), and how far apart they are."""
    best: tuple[float, float] | None = None
    base = rec.start.timestamp() + 3.0
    for step in range(200):
        target = base + step * 0.02
        firsts = [next(t for t in rec.keyframes[cid] if t >= target) for cid in CAMERAS]
        spread = max(firsts) - min(firsts)
        if best is None or spread > best[1]:
            best = (target, spread)
    assert best is not None
    return datetime.fromtimestamp(best[0], UTC), best[1]


def player(rec: Recording, viewer: Viewer) -> Player:
    services = rec.client.gateway.services
    assert services is not None
    session = services.webrtc.get(viewer.location.rsplit("/", 1)[1])
    assert session is not None and session.player is not None
    return session.player


def spread(values: list[float]) -> float:
    return max(values) - min(values)


async def open_three(rec: Recording, group: str | None, audio: bool = False) -> list[Viewer]:
    viewers = []
    suffix = f"&group={group}" if group else ""
    for cid in CAMERAS:
        viewer = Viewer(audio=audio and cid == "a")
        viewers.append(viewer)
        await viewer.play(rec.client, f"/whep/playback/{cid}?start={z(rec.start)}&end={z(rec.end)}{suffix}",
                          rec.ops)
    for viewer in viewers:
        await viewer.frames_after(3, within=20)
    return viewers


async def close_all(viewers: list[Viewer]) -> None:
    for viewer in viewers:
        await viewer.close()


async def seek_and_double(viewers: list[Viewer], target: datetime, group: bool) -> None:
    """Seek to `target` and play at 2x: in a group on one member's channel each, else on every one."""
    for viewer in viewers if not group else viewers[:1]:
        viewer.send(op="seek", to=z(target))
    for viewer in viewers if not group else viewers[1:2]:
        viewer.send(op="speed", rate=2)
    for viewer in viewers:
        await viewer.wait_for("position", within=10, rate=2.0)


async def all_started(rec: Recording, viewers: list[Viewer], target: datetime) -> list[float]:
    """Every session has sent a frame of the new place (its first keyframe after `target`);
    returns those keyframes' times."""
    firsts = [next(t for t in rec.keyframes[cid] if t >= target.timestamp()) for cid in CAMERAS]

    async def check() -> bool:
        return all(player(rec, v).position >= f for v, f in zip(viewers, firsts, strict=True))

    await until(check, 20, "every session at its first keyframe after the seek")
    return firsts


async def test_three_cameras_in_one_group_stay_within_200_ms_after_seek_and_2x(rec: Recording) -> None:
    target, keyframe_spread = spread_target(rec)
    log.warning("seek target %s: first keyframes after it %.3f s apart", z(target), keyframe_spread)
    assert keyframe_spread > 0.5, rec.keyframes

    # Independent sessions (no group), seeked and sped up together: each starts at its own keyframe.
    alone = await open_three(rec, None)
    try:
        await seek_and_double(alone, target, group=False)
        await all_started(rec, alone, target)
        await asyncio.sleep(1.0)  # a moment of steady play at 2x
        independent = spread([player(rec, v).position for v in alone])
    finally:
        await close_all(alone)
    log.warning("independent sessions: %.3f s apart at 2x after the same seek", independent)
    assert independent > BOUND_S, "without a group the sessions should drift apart"

    services = rec.client.gateway.services
    assert services is not None
    group = secrets.token_urlsafe(16)
    viewers = await open_three(rec, group, audio=True)
    try:
        sound = services.webrtc.get(viewers[0].location.rsplit("/", 1)[1])
        assert sound is not None and sound.sound is not None
        # Sound plays for a group member at 1x.
        await until(lambda: _above(sound.sound.sent if sound.sound else 0, 25), 15, "sound at 1x in the group")
        assert [v.reports[-1][1]["group"] for v in viewers] == [group] * 3

        seeked = time.monotonic()
        await seek_and_double(viewers, target, group=True)
        firsts = await all_started(rec, viewers, target)
        settled = time.monotonic()
        log.warning("group: every member playing its own keyframe %.2f s after the seek", settled - seeked)
        heard = sound.sound.sent if sound.sound else 0
        server_worst = report_worst = 0.0
        worst: list[dict[str, Any]] = []
        carried_all: list[float] = []
        samples = 0
        while time.monotonic() - settled < WATCH_S:
            await asyncio.sleep(0.25)
            now = time.time()
            # At one instant, server side: the time of the last frame each session sent.
            positions = [player(rec, v).position for v in viewers]
            server_worst = max(server_worst, spread(positions))
            # The position reports each viewer received, carried forward to the same instant; only
            # reports of a member playing (a report sent while a member still waited for its
            # keyframe says the seek target, and it did not move meanwhile).
            playing = [when(v.reports[-1][1]["at"]).timestamp() >= f for v, f in zip(viewers, firsts, strict=True)]
            if all(playing):
                carried = spread([v.extrapolated(now) for v in viewers])
                carried_all.append(carried)
                if carried > report_worst:
                    report_worst, worst = carried, [v.reports[-1][1] for v in viewers]
            samples += 1
        clock = services.webrtc.groups.get(group)
        assert clock is not None
        played = clock.clock.position(asyncio.get_running_loop().time()) - target.timestamp()
        # The viewers' side is judged on 95 % of the instants: one report that reached this (test)
        # process late on a loaded machine is carried forward wrongly until the next one, a second
        # later (CI once: 1.2 s while the server's positions were 0.04 s apart). The server's
        # positions must hold the bound at every instant.
        carried_all.sort()
        report_p95 = carried_all[int(0.95 * (len(carried_all) - 1))] if carried_all else float("inf")
        log.warning("group over %.0f s at 2x (%d samples): server positions at most %.3f s apart, "
                    "extrapolated reports at most %.3f s (95 %% of instants within %.3f s); the clock moved "
                    "%.1f s of recording", WATCH_S, samples, server_worst, report_worst, report_p95, played)
        assert len(carried_all) >= samples // 2, "the members' reports said they were playing too seldom"
        assert server_worst <= BOUND_S and report_p95 <= BOUND_S, (report_p95, worst)
        assert played >= 2 * WATCH_S * 0.9  # really at 2x, really moving
        assert (sound.sound.sent if sound.sound else 0) - heard <= 5, "no sound at 2x"
    finally:
        await close_all(viewers)
    await until(lambda: _empty(services.webrtc.groups), 15, "the group gone with its last member")
    starts = await _log(rec, "playback_start")
    stops = await _log(rec, "playback_stop")
    assert len([e for e in starts if e["details"].get("group") == group]) == 3
    await until(lambda: _stops(rec, group, 3), 15, "three PLAYBACK_STOP with the group")
    assert not [e for e in starts if "group" in e["details"] and e["details"]["group"] != group], stops


async def _above(value: int, least: int) -> bool:
    return value > least


async def _empty(groups: Any) -> bool:
    return len(groups) == 0


async def _log(rec: Recording, action: str) -> list[dict[str, Any]]:
    body = await rec.client.get_json(f"/api/v1/access-log?action={action}&limit=1000",
                                     await rec.client.sign_in("admin", rec.client.admin_password()))
    return [e["payload"] for e in body["entries"]]


async def _stops(rec: Recording, group: str, n: int) -> bool:
    return len([e for e in await _log(rec, "playback_stop") if e["details"].get("group") == group]) >= n


async def test_a_group_never_mixes_viewers(rec: Recording) -> None:
    group = secrets.token_urlsafe(12)
    window = f"start={z(rec.start)}&end={z(rec.end)}"
    mine = Viewer()
    theirs = Viewer()
    try:
        await mine.play(rec.client, f"/whep/playback/a?{window}&group={group}", rec.ops)
        offer = await theirs.offer()
        body = await problem(rec.client, "POST", f"/whep/playback/b?{window}&group={group}", 409, rec.ops2,
                             data=offer, headers=dict(SDP))
        assert "another viewer" in body["detail"]
        await problem(rec.client, "POST", f"/whep/playback/b?{window}&group=short", 400, rec.ops,
                      data=offer, headers=dict(SDP))
        services = rec.client.gateway.services
        assert services is not None
        joined = services.webrtc.groups.get(group)
        assert joined is not None and len(joined.members) == 1
    finally:
        await mine.close()
        await theirs.close()


async def test_a_group_seek_outside_one_members_window_is_refused(rec: Recording) -> None:
    group = secrets.token_urlsafe(12)
    short_end = rec.start + timedelta(seconds=20)
    wide, narrow = Viewer(), Viewer()
    try:
        await wide.play(rec.client, f"/whep/playback/a?start={z(rec.start)}&end={z(rec.end)}&group={group}", rec.ops)
        await narrow.play(rec.client, f"/whep/playback/b?start={z(rec.start)}&end={z(short_end)}&group={group}",
                          rec.ops)
        await wide.frames_after(3, within=20)
        await narrow.frames_after(3, within=20)
        before = [player(rec, v).sent.seeks for v in (wide, narrow)]
        # Inside a's window, outside b's: refused on the channel it came on, nothing changed.
        wide.send(op="seek", to=z(short_end + timedelta(seconds=5)))
        error = await wide.wait_for("error", within=10)
        assert "every member's authorized window" in error["detail"]
        assert [player(rec, v).sent.seeks for v in (wide, narrow)] == before
        # Inside both: applied to both.
        target = rec.start + timedelta(seconds=10)
        narrow.send(op="seek", to=z(target))
        for viewer in (wide, narrow):
            ev = await viewer.wait_for("position", within=10)
            while abs(when(ev["at"]).timestamp() - target.timestamp()) > 1e-3:
                ev = await viewer.wait_for("position", within=10)
            assert ev["group"] == group
        assert [player(rec, v).sent.seeks for v in (wide, narrow)] == [n + 1 for n in before]
    finally:
        await wide.close()
        await narrow.close()
