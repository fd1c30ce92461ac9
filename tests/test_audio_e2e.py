"""Sound in the recordings, end to end: GStreamer cameras with AAC, G.711 A-law and mu-law audio
recorded by a real gateway (2 s segments), checked with ffprobe and ffmpeg; the index and the API
say what was done; `/get` and export jobs carry the sound, in sync, and leave it out when the
policy says no_audio (and say so in the access log); a camera with `audio: false` records none.

One recording is shared by the module, made on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import av
import pytest
import pytest_asyncio

from core.config import CameraConfig
from recorder.reader import SegmentOpened
from recorder.recovery import salvage
from recorder.store import SegmentStore
from streams.packet import MediaPacket
from tests.fixtures_camera import CameraServer
from tests.gatewayutil import Client, call, make_settings, request_form, running_gateway, until
from core.utctime import format_utc as z

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow, pytest.mark.timeout(150)]

FAST = {"stall_timeout_s": 2.0, "read_timeout_s": 2.0, "open_timeout_s": 3.0,
        "backoff": {"initial_s": 0.3, "max_s": 0.6, "jitter": 0.1}}
PASSWORD = "password-123"
# What each test camera sends, and what the index must say was stored.
CAMERAS = {"pcma": ("ball+pcma", "pcm_alaw"), "pcmu": ("ball+pcmu", "pcm_mulaw"), "aac": ("ball+aac", None)}
# Admins export with the sound; operators' rule withholds it (no_audio); so do dispositions.
EXPORT = {"admin": {"groups": ["*"], "max_age_h": 1},
          "operator": {"groups": ["*"], "max_age_h": 1, "audio": False}}
SYNC_S = 0.1  # the brief: a segment's sound and picture match within 100 ms


@dataclass
class Env:
    client: Client
    admin: str
    ops: str
    sup: str
    began: datetime

    @property
    def services(self) -> Any:
        services = self.client.gateway.services
        assert services is not None
        return services


async def listing(env: Env, camera: str) -> dict[str, Any]:
    window = f"start={quote(z(env.began))}&end={quote(z(datetime.now(UTC) + timedelta(minutes=1)))}"
    return await env.client.get_json(f"/api/v1/recordings?camera={camera}&{window}", env.admin)  # type: ignore[no-any-return]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory, module_db_url: str) -> AsyncIterator[Env]:
    tmp: Path = tmp_path_factory.mktemp("audio")
    mounts = {name: kind for name, (kind, _) in CAMERAS.items()} | {"mute": "ball+pcma"}
    server = CameraServer(mounts, size="320x180", bitrate=300)
    server.start()
    cams = [CameraConfig(id=name, source=server.url(name), **FAST) for name in CAMERAS]
    cams.append(CameraConfig(id="mute", source=server.url("mute"), audio=False, **FAST))
    settings = make_settings(tmp, module_db_url, cams, recording={"segment_s": 2, "min_free_bytes": 0},
                             access={"export": EXPORT, "disposition": {"audio": False}})
    began = datetime.now(UTC) - timedelta(seconds=5)
    try:
        async with running_gateway(settings) as client:
            services = client.gateway.services
            assert services is not None
            admin = await client.sign_in("admin", client.admin_password())
            for name, role in [("ops", "operator"), ("sup", "supervisor")]:
                await services.users.add(name, role, PASSWORD)
            ops, sup = [await client.sign_in(n, PASSWORD) for n in ("ops", "sup")]
            env = Env(client, admin, ops, sup, began)

            async def three_each() -> bool:
                counts = [len((await listing(env, cam))["segments"]) for cam in [*CAMERAS, "mute"]]
                return min(counts) >= 3

            await until(three_each, 45, "three sealed segments of every camera")
            yield env
    finally:
        server.stop()


def probe(path: Path) -> dict[str, tuple[str, float, float]]:
    """codec type -> (codec, start, duration) as ffprobe reads the file."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name,start_time,duration",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True, timeout=30)
    return {s["codec_type"]: (s["codec_name"], float(s.get("start_time", 0)), float(s.get("duration", 0)))
            for s in json.loads(out.stdout)["streams"]}


def decode_errors(path: Path) -> str:
    """What `ffmpeg -v error` prints decoding every stream of the file (nothing, for a good file)."""
    run = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "null", "-"],
                         capture_output=True, text=True, timeout=60)
    return run.stderr.strip()


def in_sync(streams: dict[str, tuple[str, float, float]]) -> None:
    """The sound starts with the picture and lasts as long, within SYNC_S (a sealed segment)."""
    (_, v_start, v_dur), (_, a_start, a_dur) = streams["video"], streams["audio"]
    assert abs(a_start - v_start) < SYNC_S, streams
    assert abs(a_dur - v_dur) < SYNC_S, streams


def edges_in_sync(streams: dict[str, tuple[str, float, float]]) -> None:
    """The sound starts and ends with the picture within SYNC_S (a copy cut to a window: it starts at
    the first keyframe, and no sound from before it goes in)."""
    (_, v_start, v_dur), (_, a_start, a_dur) = streams["video"], streams["audio"]
    assert abs(a_start - v_start) < SYNC_S, streams
    assert abs((a_start + a_dur) - (v_start + v_dur)) < SYNC_S, streams


async def sealed_files(env: Env, camera: str) -> list[tuple[Any, Path]]:
    recorder = env.services.recorder
    rows = await recorder.index.segments(camera, env.began, None)
    return [(row, recorder.store.absolute(row.path)) for row in rows]


@pytest.mark.parametrize("camera", list(CAMERAS))
async def test_sealed_segments_hold_sound_that_decodes_and_matches_the_picture(env: Env, camera: str) -> None:
    _, source = CAMERAS[camera]
    files = await sealed_files(env, camera)
    assert len(files) >= 3
    for row, path in files:
        streams = await asyncio.to_thread(probe, path)
        assert streams["video"][0] == "h264" and streams["audio"][0] == "aac", (path.name, streams)
        assert await asyncio.to_thread(decode_errors, path) == "", path.name
        in_sync(streams)
        assert (row.audio_codec, row.audio_source_codec) == ("aac", source)
    # The API says the same.
    segments = (await listing(env, camera))["segments"]
    assert {(s["audio_codec"], s["audio_source_codec"]) for s in segments} == {("aac", source)}


async def test_the_transcoded_sound_runs_on_without_a_seam_across_segments(env: Env) -> None:
    """Read back as playback and exports read it: the AAC frames of consecutive segments follow each
    other exactly on the camera's clock (one encoder per connection), beside the video."""
    files = await sealed_files(env, "pcma")
    start, end = files[0][0].start, files[-1][0].end
    audio: list[MediaPacket] = []
    video: list[MediaPacket] = []
    opened = 0
    async for item in env.services.recorder.reader.read("pcma", start, end):
        if isinstance(item, SegmentOpened):
            opened += 1
            assert [(s.kind, s.codec) for s in item.streams] == [("video", "h264"), ("audio", "aac")]
            assert [s.sample_rate for s in item.streams if s.kind == "audio"] == [16000]
        elif isinstance(item, MediaPacket):
            (video if item.stream == 0 else audio).append(item)
    assert opened == len(files) >= 3
    steps = {b.pts - a.pts for a, b in zip(audio, audio[1:], strict=False)}  # type: ignore[operator]
    assert steps == {1024}, steps
    assert abs(audio[0].wallclock - video[0].wallclock) < SYNC_S
    spoken = (audio[-1].wallclock + 0.064) - audio[0].wallclock
    shown = video[-1].wallclock - video[0].wallclock
    assert abs(spoken - shown) < SYNC_S


async def test_a_camera_with_audio_false_records_no_sound(env: Env) -> None:
    files = await sealed_files(env, "mute")
    assert len(files) >= 3
    for row, path in files:
        assert row.audio_codec is None and row.audio_source_codec is None
        assert "audio" not in await asyncio.to_thread(probe, path)
    # Nothing downstream of the camera sees the sound: the hub carries the picture only.
    assert [s.kind for s in env.services.cameras["mute"].hub.streams] == ["video"]


async def test_recovery_seals_an_interrupted_audio_segment_and_keeps_what_was_done(env: Env, tmp_path: Path) -> None:
    row, path = (await sealed_files(env, "pcma"))[1]
    # A copy of a sealed segment, unsealed and cut off in its last box, as a kill -9 while sealing
    # leaves it, in a store of its own (a 2 s segment of a camera with 2 s GOPs is one fragment:
    # cut any earlier, nothing is playable and recovery rightly quarantines it).
    store = SegmentStore(tmp_path)
    partial = store.partial_path("pcma", row.start)
    data = await asyncio.to_thread(path.read_bytes)
    await asyncio.to_thread(partial.parent.mkdir, parents=True, exist_ok=True)
    await asyncio.to_thread(partial.write_bytes, data[:-40])
    recovered = await asyncio.to_thread(salvage, store, partial)
    assert recovered is not None and recovered.status == "recovered"
    # The file's own header says the recorder transcoded A-law: the index row says so again.
    assert (recovered.audio_codec, recovered.audio_source_codec) == ("aac", "pcm_alaw")
    final = store.absolute(recovered.path)
    assert "audio" in await asyncio.to_thread(probe, final)
    assert await asyncio.to_thread(decode_errors, final) == ""


async def get_file(env: Env, token: str, camera: str, start: datetime, seconds: float, out: Path) -> Path:
    path = f"/get?path={camera}&start={quote(z(start))}&duration={seconds}&format=mp4"
    data = await call(env.client, "GET", path, token, 200)
    await asyncio.to_thread(out.write_bytes, data)
    return out


async def export_entries(env: Env, actor: str) -> list[dict[str, Any]]:
    body = await env.client.get_json("/api/v1/access-log?action=export&limit=1000", env.admin)
    return [e["payload"] for e in body["entries"] if e["payload"]["actor"] == actor]


async def test_get_carries_the_sound_in_sync_and_no_audio_leaves_it_out(env: Env, tmp_path: Path) -> None:
    files = await sealed_files(env, "pcma")
    start = files[0][0].start + timedelta(milliseconds=500)  # from the second keyframe on
    seconds = (files[-1][0].end - start).total_seconds()
    full = await get_file(env, env.admin, "pcma", start, seconds, tmp_path / "admin.mp4")
    streams = await asyncio.to_thread(probe, full)
    assert streams["audio"][0] == "aac"
    edges_in_sync(streams)
    assert await asyncio.to_thread(decode_errors, full) == ""
    [logged] = (await export_entries(env, "admin"))[-1:]
    assert logged["details"]["audio"] is True and "no_audio" not in logged["details"]
    # An operator's rule withholds the sound: the same window, picture only, and the log says so.
    quiet = await get_file(env, env.ops, "pcma", start, seconds, tmp_path / "ops.mp4")
    streams = await asyncio.to_thread(probe, quiet)
    assert set(streams) == {"video"}
    assert await asyncio.to_thread(decode_errors, quiet) == ""
    [logged] = (await export_entries(env, "ops"))[-1:]
    assert logged["details"]["audio"] is False and logged["details"]["no_audio"] is True
    with av.open(str(full)) as a, av.open(str(quiet)) as b:
        frames = [sum(1 for p in c.demux(c.streams.video[0]) if p.size) for c in (a, b)]
    assert frames[0] == frames[1]  # the same picture


async def finished(env: Env, job_id: str, token: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        job = await env.client.get_json(f"/api/v1/exports/{job_id}", token)
        return job if job["state"] not in ("queued", "running") else None
    return await until(check, 60, f"export job {job_id}")  # type: ignore[no-any-return]


async def zip_of(env: Env, job: dict[str, Any], token: str, out: Path) -> Path:
    assert job["state"] == "done", job
    data = await call(env.client, "GET", job["result"]["download"], token, 200)
    await asyncio.to_thread(out.write_bytes, data)
    return out


async def test_export_jobs_carry_the_sound_or_leave_it_out_as_the_decision_says(env: Env, tmp_path: Path) -> None:
    files = await sealed_files(env, "pcmu")
    body = {"cameras": ["pcmu"], "start": z(files[0][0].start), "end": z(files[-1][0].end),
            "reason": "complaint", "formats": ["mp4"]}
    with_sound = await call(env.client, "POST", "/api/v1/exports", env.admin, 202, json=body)
    without = await call(env.client, "POST", "/api/v1/exports", env.ops, 202, json=body)
    assert (with_sound["audio"], without["audio"]) == (True, False)
    for job, token, expected in [(with_sound, env.admin, True), (without, env.ops, False)]:
        done = await finished(env, job["id"], token)
        with zipfile.ZipFile(await zip_of(env, done, token, tmp_path / f"{job['id']}.zip")) as zf:
            manifest = json.loads(zf.read("manifest.json"))
            entry = json.loads(json.loads(zf.read("log/entry.json"))["payload"])
            mp4 = tmp_path / f"{job['id']}.mp4"
            mp4.write_bytes(zf.read("mp4/pcmu.mp4"))
        streams = await asyncio.to_thread(probe, mp4)
        assert ("audio" in streams) is expected
        if expected:
            edges_in_sync(streams)
        assert await asyncio.to_thread(decode_errors, mp4) == ""
        assert [f["audio"] for f in manifest["files"] if f["kind"] == "mp4"] == [expected]
        assert manifest.get("audio_withheld", False) is not expected
        assert entry["details"]["audio"] is expected
        assert entry["details"].get("no_audio", False) is not expected
    # The sealed originals hold sound and cannot be altered: a bundle is refused, and logged.
    refused = await call(env.client, "POST", "/api/v1/exports", env.ops, 403, json={**body, "formats": ["bundle"]})
    assert "no_audio" in refused["detail"] and "mp4" in refused["detail"]
    denied = [e for e in await export_entries(env, "ops") if e["outcome"] == "deny"]
    assert denied and denied[-1]["details"]["no_audio"] is True


async def test_a_disposition_without_sound_refuses_a_bundle_before_a_copy_is_used(env: Env, tmp_path: Path) -> None:
    files = await sealed_files(env, "aac")
    start, end = files[0][0].start, files[-1][0].end
    form = request_form("aac", start, end)
    form.add_field("copies", "1")
    async with env.client.http.post(env.client.url("/api/v1/playback-requests"), data=form,
                                    headers={"Authorization": f"Bearer {env.ops}"}) as resp:
        filed = await resp.json()
        assert resp.status == 201, filed
    approved = await call(env.client, "POST", f"/api/v1/playback-requests/{filed['id']}/approvals", env.sup, 201,
                          json={"note": "ok", "copies": True})
    token = approved["disposition"]["token"]
    refused = await call(env.client, "POST", "/api/v1/exports", token, 403, json={"formats": ["bundle"]})
    assert "sound" in refused["detail"]
    body = await env.client.get_json("/api/v1/access-log?action=token_redeemed&limit=1000", env.admin)
    assert any(e["payload"]["outcome"] == "deny" and e["payload"]["reason"].startswith("audio_withheld")
               for e in body["entries"])
    # The one copy is still there: an MP4 copy, video only.
    job = await call(env.client, "POST", "/api/v1/exports", token, 202, json={"formats": ["mp4"]})
    assert job["audio"] is False
    done = await finished(env, job["id"], token)
    with zipfile.ZipFile(await zip_of(env, done, token, tmp_path / "token.zip")) as zf:
        mp4 = tmp_path / "token.mp4"
        mp4.write_bytes(zf.read("mp4/aac.mp4"))
    assert set(await asyncio.to_thread(probe, mp4)) == {"video", "subtitle"}

