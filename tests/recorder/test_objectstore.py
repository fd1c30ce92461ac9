"""storage.object end to end on SQLite and PostgreSQL: a real gateway records (tests/fastrecording.py)
into an S3 store with object lock (moto in server mode on loopback, tests/fixtures_s3.py). The segments
land in the bucket locked, the store refuses to delete them early, /get reads a segment whose local
copy was evicted from the store, evidence holds become legal holds, verify-recordings finds a
corrupted object, and a store that goes away stalls nothing while the backlog drains when it is back.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
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
from botocore.exceptions import ClientError
from sqlalchemy import select

from core.config import ObjectStorageConfig, Settings, StorageConfig
from core.utctime import format_utc as z
from recorder.models import Segment, SegmentObject
from recorder.retention import Retention
from recorder.service import Recorder
from recorder.verify import verify_recordings
from tests.fastrecording import encode, feed, idle_camera
from tests.fixtures_s3 import S3Server
from tests.gatewayutil import Client, call, make_settings, running_gateway, until
from tests.test_whep_playback import PlaybackViewer

pytestmark = [pytest.mark.asyncio(loop_scope="module")]

SEGMENT_S = 4
RECORDED_S = 12
EXPORT = {"admin": {"groups": ["*"], "max_age_h": 1}}
PLAYBACK = {"admin": {"groups": ["*"]}}


@dataclass
class Env:
    client: Client
    admin: str
    s3: S3Server
    settings: Settings
    recorder: Recorder
    start: datetime
    end: datetime


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory, module_db_url: str, s3_server: S3Server) -> AsyncIterator[Env]:
    tmp: Path = tmp_path_factory.mktemp("objects")
    settings = make_settings(tmp, module_db_url, [idle_camera("gate")],
                             recording={"segment_s": SEGMENT_S, "min_free_bytes": 0}, access={"export": EXPORT, "playback": PLAYBACK})
    s3_server.new_bucket()  # one per database backend: the same times make the same keys
    # cache_bytes 0: every local copy is evicted as soon as its object is uploaded and verified.
    objects = ObjectStorageConfig(**s3_server.config(
        cache_bytes=0, scan_interval_s=0.3, timeout_s=2, retry={"initial_s": 0.2, "max_s": 0.5, "jitter": 0}))
    settings = settings.model_copy(update={"storage": StorageConfig(path=tmp / "recordings", object=objects)})
    stream = await asyncio.to_thread(encode, RECORDED_S, 10, (320, 180), 1.0)
    async with running_gateway(settings) as client:
        services = client.gateway.services
        assert services is not None
        cam = services.cameras["gate"]
        await until(lambda: _true(any(s.name == "recorder-gate" for s in cam.hub._subscribers)), 15,
                    "the recorder listening to the idle camera")
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
        end = await feed(cam.hub, stream, start)
        admin = await client.sign_in("admin", client.admin_password())
        recorder = services.recorder
        env = Env(client, admin, s3_server, settings, recorder, start, end)
        await until(lambda: _uploaded(env, RECORDED_S // SEGMENT_S), 30, "every segment uploaded")
        await until(lambda: _evicted(env), 10, "every local copy evicted")
        yield env


async def _true(value: bool) -> bool:
    return value


async def _rows(env: Env) -> list[tuple[Segment, SegmentObject | None]]:
    async with env.recorder.db() as session:
        return [(seg, obj) for seg, obj in (await session.execute(
            select(Segment, SegmentObject).outerjoin(SegmentObject, SegmentObject.segment_id == Segment.id)
            .order_by(Segment.start))).all()]


async def _uploaded(env: Env, count: int) -> bool:
    rows = await _rows(env)
    return len(rows) >= count and all(obj is not None for _, obj in rows)


async def _evicted(env: Env) -> bool:
    return not any(env.recorder.store.absolute(seg.path).exists() for seg, _ in await _rows(env))


async def test_segments_land_in_the_bucket_under_object_lock_and_local_copies_are_evicted(env: Env) -> None:
    rows = await _rows(env)
    assert len(rows) == RECORDED_S // SEGMENT_S and rows[-1][0].end == env.end
    async with env.s3.client() as s3:
        for seg, obj in rows:
            assert obj is not None and obj.key == seg.path and obj.sha256 == seg.sha256 and obj.version_id
            head = await s3.head_object(Bucket=env.s3.bucket, Key=obj.key, VersionId=obj.version_id,
                                        ChecksumMode="ENABLED")
            assert head["ObjectLockMode"] == "GOVERNANCE"
            # Locked for the camera's retention in force (the default 30 days) after the segment ends.
            until_date = head["ObjectLockRetainUntilDate"].astimezone(UTC)
            assert abs((until_date - (seg.end + timedelta(days=30))).total_seconds()) < 2
            assert head["ContentLength"] == seg.bytes
            # The local file was only a cache: the budget of 0 evicted it once the object was verified.
            assert not env.recorder.store.absolute(seg.path).exists()
    status = env.recorder.upload_status()
    assert status is not None and status.backlog == 0 and status.last_error is None


async def test_the_store_refuses_an_early_delete_and_retention_keeps_the_segment(env: Env) -> None:
    seg, obj = (await _rows(env))[0]
    assert obj is not None
    async with env.s3.client() as s3:
        with pytest.raises(ClientError) as refused:
            await s3.delete_object(Bucket=env.s3.bucket, Key=obj.key, VersionId=obj.version_id)
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
    # Retention whose clock is 40 days on: by the index every segment is past its retention and its
    # lock, but the store (on the real clock) refuses; the rows stay and nothing crashes.
    later = _Later(timedelta(days=40))
    recorder = env.recorder
    retention = Retention(recorder.db, recorder.store, recorder.state, later, recorder.config, {},
                          recorder.events, recorder.objects, recorder.files)
    assert await retention.run_once() == []
    assert [s.id for s, _ in await _rows(env)][0] == seg.id
    async with env.s3.client() as s3:
        versions = await s3.list_object_versions(Bucket=env.s3.bucket, Prefix=obj.key)
        assert [v["VersionId"] for v in versions["Versions"]] == [obj.version_id]


async def test_get_reads_an_evicted_segment_from_the_store(env: Env) -> None:
    rows = await _rows(env)
    assert not any(env.recorder.store.absolute(seg.path).exists() for seg, _ in rows)
    fetched = env.recorder.files.fetched_total
    duration = (env.end - env.start).total_seconds()
    data = await call(env.client, "GET", f"/get?path=gate&start={quote(z(env.start))}&duration={duration}&format=mp4",
                      env.admin, 200)
    assert env.recorder.files.fetched_total >= fetched + len(rows)
    with av.open(io.BytesIO(data), format="mp4") as container:
        frames = sum(1 for p in container.demux(video=0) if p.size)
    assert frames == RECORDED_S * 10


async def test_whep_playback_of_evicted_segments_reads_the_store(env: Env) -> None:
    await until(lambda: _evicted(env), 10, "the copies /get fetched evicted again")
    fetched = env.recorder.files.fetched_total
    viewer = PlaybackViewer()
    try:
        await viewer.play(env.client, f"/whep/playback/gate?start={quote(z(env.start))}&end={quote(z(env.end))}",
                          env.admin)
        await viewer.frames_after(1, within=15)
        viewer.send(op="speed", rate=8)
        await viewer.wait_for("end", within=20)
        # The window's frames (the receiver may lose one or two on loopback), across the three
        # segments fetched back from the store.
        assert len(viewer.frames) >= RECORDED_S * 10 * 0.9, len(viewer.frames)
    finally:
        await viewer.close()
    assert env.recorder.files.fetched_total == fetched + RECORDED_S // SEGMENT_S


async def test_evidence_holds_become_legal_holds(env: Env) -> None:
    seg, obj = (await _rows(env))[1]
    assert obj is not None
    hold = await env.recorder.holds.place("gate", seg.start, seg.start + timedelta(seconds=1), "case 7", "admin")

    async def legal_hold(status: str) -> bool:
        async with env.s3.client() as s3:
            got = await s3.get_object_legal_hold(Bucket=env.s3.bucket, Key=obj.key, VersionId=obj.version_id)
        return bool(got["LegalHold"]["Status"] == status)

    await until(lambda: legal_hold("ON"), 10, "the legal hold set on the held segment's object")
    others = [o for s, o in await _rows(env) if s.id != seg.id]
    assert all(o is not None and not o.legal_hold for o in others)
    await env.recorder.holds.release(hold.id, "admin", "case closed")
    await until(lambda: legal_hold("OFF"), 10, "the legal hold lifted")


async def test_thumbnails_and_evidence_bundles_read_evicted_segments_from_the_store(env: Env) -> None:
    await until(lambda: _evicted(env), 10, "the copies /get fetched evicted again")
    made = await env.recorder.thumbnails.make("gate", env.start, env.end, 3)
    assert len(made.thumbnails) == 3 and made.skipped == {}
    await until(lambda: _evicted(env), 10, "the copies the thumbnails fetched evicted again")
    body = {"cameras": ["gate"], "start": z(env.start), "end": z(env.end), "reason": "court order"}
    job = await call(env.client, "POST", "/api/v1/exports", env.admin, 202, json=body)

    async def finished() -> dict[str, Any] | None:
        got = await env.client.get_json(f"/api/v1/exports/{job['id']}", env.admin)
        return got if got["state"] not in ("queued", "running") else None

    done = await until(finished, 30, "the export job finished")
    assert done["state"] == "done", done
    data = await call(env.client, "GET", done["result"]["download"], env.admin, 200)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        copied = {hashlib.sha256(zf.read(name)).hexdigest() for name in zf.namelist() if name.endswith(".mp4")}
    assert copied == {seg.sha256 for seg, _ in await _rows(env)}
    # The job held the window it exported: the holds are legal holds on the objects now.
    await until(lambda: _all_legally_held(env), 10, "the export's holds mirrored as legal holds")


async def _all_legally_held(env: Env) -> bool:
    return all(obj is not None and obj.legal_hold for _, obj in await _rows(env))


async def test_verify_recordings_reports_a_corrupted_object(env: Env) -> None:
    seg, obj = (await _rows(env))[-1]
    assert obj is not None and obj.version_id is not None
    out = io.StringIO()
    assert await asyncio.to_thread(verify_recordings, env.settings, out) == 0, out.getvalue()
    original = env.s3.tamper(obj.key, obj.version_id, b"\0" * seg.bytes)
    try:
        out = io.StringIO()
        assert await asyncio.to_thread(verify_recordings, env.settings, out) == 1
        report = out.getvalue()
        assert f"MISMATCH gate {seg.path}: object {obj.key}: sha256" in report, report
        assert "1 mismatch(es)" in report
    finally:
        env.s3.tamper(obj.key, obj.version_id, original)


async def test_a_dead_store_stalls_nothing_and_the_backlog_drains(env: Env) -> None:
    recorder = env.recorder
    cam = env.client.gateway.services.cameras["gate"]  # type: ignore[union-attr]
    before = len(await _rows(env))
    env.s3.stop()
    try:
        stream = await asyncio.to_thread(encode, 8, 10, (320, 180), 1.0)
        start = env.end + timedelta(seconds=30)
        end = await asyncio.wait_for(feed(cam.hub, stream, start), 10)
        # Recording goes on: the new segments are sealed and indexed while the store is away.
        await until(lambda: _true(recorder.upload_status().backlog == 2 and  # type: ignore[union-attr]
                                  recorder.upload_status().last_error is not None), 15,  # type: ignore[union-attr]
                    "two segments waiting for a store that is away")
        rows = await _rows(env)
        assert len(rows) == before + 2 and rows[-1][0].end == end
        # Not uploaded: never evicted, the local file is the only copy.
        assert all(recorder.store.absolute(s.path).exists() for s, o in rows if o is None)
        health = await env.client.get_json("/health", None, 200)
        check = health["checks"]["objectStore:uploadBacklog"][0]
        assert check["status"] == "warn" and check["observedValue"] == 2
        metrics = await call(env.client, "GET", "/metrics", None, 200)
        assert b"pantau_object_upload_backlog 2.0" in metrics
    finally:
        env.s3.start()
    await until(lambda: _uploaded(env, before + 2), 20, "the backlog uploaded once the store is back")
    # The pass that uploaded them ends (legal holds, eviction) before the store counts as healthy again.
    await until(lambda: _true(recorder.upload_status().backlog == 0  # type: ignore[union-attr]
                              and recorder.upload_status().last_error is None), 10,  # type: ignore[union-attr]
                "the uploader healthy again")


class _Later:
    """The real clock moved on by `ahead` (for the index); the store keeps the real time."""

    def __init__(self, ahead: timedelta) -> None:
        self._ahead = ahead

    def now(self) -> datetime:
        return datetime.now(UTC) + self._ahead

    def monotonic(self) -> float:
        raise AssertionError("retention does not read the monotonic clock")

