"""Export jobs over HTTP end to end: a real gateway, real sealed recordings (its own recorder, fed
faster than real time: tests/fastrecording.py), the real bundle writer, access log and policy, on
SQLite and PostgreSQL.

Where a job must stay `running` for a moment (cancel, the queue), the runner's writer is wrapped
so it waits on an event before the real writer starts copying: the real writer then stops at its
first block.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import pytest
import pytest_asyncio
from sqlalchemy import update

from evidence import verify_bundle
from evidence.jobwriter import BundleOrder, Counter, Written
from evidence.models import ExportJob
from policy.audit.origin import known_origin
from policy.audit.setup import key_path
from policy.audit.signingkey import load_or_create_key, public_key_text
from recorder.bundle import CameraPlan
from streams.state import CameraState
from tests.fastrecording import encode, feed, idle_camera
from tests.gatewayutil import Client, call, make_settings, request_form, running_gateway, until
from core.utctime import format_utc as z, parse_rfc3339 as when

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

PASSWORD = "password-123"
RECORDED_S = 30
EXPORT = {"supervisor": {"groups": ["*"], "max_age_h": 2}, "admin": {"groups": ["*"], "max_age_h": 2}}


@dataclass
class Env:
    client: Client
    admin: str
    sup: str
    sup2: str
    ops: str
    start: datetime
    end: datetime
    key: Path

    @property
    def services(self) -> Any:
        services = self.client.gateway.services
        assert services is not None
        return services


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory, module_db_url: str) -> AsyncIterator[Env]:
    tmp: Path = tmp_path_factory.mktemp("exports")
    settings = make_settings(tmp, module_db_url, [idle_camera("north"), idle_camera("south")],
                             recording={"segment_s": 2, "min_free_bytes": 0, "max_exports": 1},
                             access={"export": EXPORT})
    stream = await asyncio.to_thread(encode, RECORDED_S)
    async with running_gateway(settings) as client:
        services = client.gateway.services
        assert services is not None
        cams = services.cameras
        def idle_and_recorded() -> bool:
            # The recorder subscribes after reading its index tail: a packet fed before is lost.
            return all(c.status.state is CameraState.OFFLINE and any(
                s.name == f"recorder-{c.id}" for s in c.hub._subscribers) for c in cams.values())

        await until(lambda: asyncio.sleep(0, idle_and_recorded()), 15, "idle cameras, the recorder listening")
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=RECORDED_S + 60)
        ends = await asyncio.gather(*(feed(cams[c].hub, stream, start) for c in ("north", "south")))
        admin = await client.sign_in("admin", client.admin_password())
        for name, role in [("sup", "supervisor"), ("sup2", "supervisor"), ("ops", "operator")]:
            await services.users.add(name, role, PASSWORD)
        sup, sup2, ops = [await client.sign_in(n, PASSWORD) for n in ("sup", "sup2", "ops")]

        async def indexed() -> bool:
            for cam in ("north", "south"):
                body = await client.get_json(f"/api/v1/recordings?camera={cam}&start={z(start)}"
                                             f"&end={z(datetime.now(UTC))}", admin)
                if not body["segments"] or body["segments"][-1]["end"] != z(ends[0]):
                    return False
            return True

        await until(indexed, 30, "the fed recordings are sealed and indexed")
        key = tmp / "published-key.txt"
        signing = load_or_create_key(key_path(settings))
        key.write_text(public_key_text(signing, known_origin(settings)))
        yield Env(client, admin, sup, sup2, ops, start, ends[0], key)


async def create(env: Env, token: str, status: int = 202, **body: Any) -> Any:
    body = {"cameras": ["north"], "start": z(env.start + timedelta(seconds=4)),
            "end": z(env.start + timedelta(seconds=14)), "reason": "police request", **body}
    return await call(env.client, "POST", "/api/v1/exports", token, status, json=body)


async def finished(env: Env, job_id: str, token: str, within: float = 30) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        job = await env.client.get_json(f"/api/v1/exports/{job_id}", token)
        return job if job["state"] not in ("queued", "running") else None
    return await until(check, within, f"export job {job_id} finished")  # type: ignore[no-any-return]


async def log_entries(env: Env, action: str) -> list[dict[str, Any]]:
    body = await env.client.get_json(f"/api/v1/access-log?action={action}&limit=1000", env.admin)
    return [e["payload"] for e in body["entries"]]


async def download(env: Env, job: dict[str, Any], token: str, headers: dict[str, str] | None = None,
                   status: int = 200) -> bytes:
    url = env.client.url(job["result"]["download"] if job.get("result") else f"/api/v1/exports/{job['id']}/download")
    async with env.client.http.get(url, headers={"Authorization": f"Bearer {token}", **(headers or {})}) as resp:
        data = await resp.read()
        assert resp.status == status, (resp.status, data[:300])
        if status in (200, 206):
            assert resp.content_type == "application/zip"
            assert resp.headers["Content-Disposition"].startswith("attachment")
        return data


@contextlib.contextmanager
def gated(env: Env) -> Iterator[asyncio.Event]:
    """Jobs wait in `running` until the event is set, then the real writer runs."""
    runner = env.services.exports.runner
    real = runner.write
    gate = asyncio.Event()

    async def wait_then_write(plans: Sequence[CameraPlan], order: BundleOrder, out: Path, tmp: Path,
                              counter: Counter, cancelled: Callable[[], bool]) -> Written:
        await gate.wait()
        return await real(plans, order, out, tmp, counter, cancelled)

    runner.write = wait_then_write
    try:
        yield gate
    finally:
        gate.set()
        runner.write = real


async def test_a_supervisors_job_runs_to_done_and_its_zip_verifies(env: Env, tmp_path: Path) -> None:
    job = await create(env, env.sup, cameras=["north", "south"], case_id="LP/12/XI/2026")
    assert job["state"] in ("queued", "running") and job["via"] == "user" and job["requested_by"] == "sup"
    assert job["cameras"] == ["north", "south"] and job["formats"] == ["bundle"] and job["result"] is None
    done = await finished(env, job["id"], env.sup)
    assert done["state"] == "done", done
    progress = done["progress"]
    assert progress["segments_total"] >= 10 and progress["segments_done"] == progress["segments_total"]
    assert progress["bytes_done"] == progress["bytes_total"] > 0 and progress["fraction"] == 1
    data = await download(env, done, env.sup)
    assert len(data) == done["result"]["size"]
    out = tmp_path / "job.zip"
    out.write_bytes(data)
    report = io.StringIO()
    assert verify_bundle(out, env.key, report) == 0, report.getvalue()
    assert "bundle OK" in report.getvalue()
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        entry = json.loads(json.loads(zf.read("log/entry.json"))["payload"])
    # Bound to the signed-in user, never a self-declared name.
    assert manifest["exported_by"] == "sup"
    assert manifest["binding"]["via"] == "user" and manifest["binding"]["job_id"] == job["id"]
    assert manifest["binding"]["case_id"] == "LP/12/XI/2026"
    assert entry["actor"] == "sup" and entry["role"] == "supervisor" and entry["details"]["job_id"] == job["id"]
    assert entry["details"]["via"] == "user" and entry["seq"] > 0
    assert done["result"]["manifest_sha256"] == entry["details"]["manifest_sha256"]
    # Holds on the exported range, named after the job.
    holds = await env.client.get_json("/api/v1/holds?active=true", env.admin)
    mine = [h for h in holds["holds"] if job["id"] in h["reason"]]
    assert sorted(h["camera"] for h in mine) == ["north", "south"], holds
    created = [e for e in await log_entries(env, "export_job_created") if e["details"]["job_id"] == job["id"]]
    assert created and created[0]["actor"] == "sup"


async def test_an_operator_without_the_export_decision_is_refused_and_logged(env: Env) -> None:
    refused = await create(env, env.ops, status=403)
    assert "disposition_required" in refused["detail"]
    denials = [e for e in await log_entries(env, "decision")
               if e["outcome"] == "deny" and e["details"]["route"] == "/api/v1/exports"]
    assert denials and denials[-1]["actor"] == "ops" and denials[-1]["details"]["action"] == "export"
    # Bad input is named.
    assert "reason" in (await create(env, env.sup, status=400, reason=" "))["detail"]
    assert "formats" in (await create(env, env.sup, status=400, formats=["avi"]))["detail"]
    assert "end" in (await create(env, env.sup, status=400, end=z(env.start)))["detail"]


async def test_a_download_resumes_with_range_and_every_request_is_logged(env: Env) -> None:
    job = await finished(env, (await create(env, env.sup))["id"], env.sup)
    whole = await download(env, job, env.sup)
    tail = await download(env, job, env.sup, {"Range": "bytes=1000-"}, status=206)
    assert tail == whole[1000:]
    await download(env, job, env.sup, {"Range": f"bytes={len(whole) + 10}-"}, status=416)
    again = await env.client.get_json(f"/api/v1/exports/{job['id']}", env.sup)
    assert again["downloads"] == 3
    logged = [e for e in await log_entries(env, "export_downloaded") if e["details"]["job_id"] == job["id"]]
    assert [e["details"]["range"] for e in logged] == ["", "bytes=1000-", f"bytes={len(whole) + 10}-"]
    # Another supervisor reads every job (reader role); an operator reads only its own.
    await call(env.client, "GET", f"/api/v1/exports/{job['id']}", env.sup2, 200)
    await call(env.client, "GET", f"/api/v1/exports/{job['id']}/download", env.ops, 403)
    listing = await env.client.get_json("/api/v1/exports?state=done", env.sup2)
    assert job["id"] in [j["id"] for j in listing["jobs"]]
    assert all(j["state"] == "done" for j in listing["jobs"])


async def test_jobs_queue_behind_max_exports_and_a_running_job_cancels(env: Env) -> None:
    exports = env.services.exports
    with gated(env) as gate:
        first = await create(env, env.sup)
        second = await create(env, env.sup2)
        await until(lambda: asyncio.sleep(0, first["id"] in exports.runner.running), 10, "the first job running")
        await asyncio.sleep(0.3)  # the runner had every chance to start the second
        assert exports.runner.running == {first["id"]}
        assert (await env.client.get_json(f"/api/v1/exports/{second['id']}", env.sup2))["state"] == "queued"
        # The download of an unfinished job is a conflict.
        await call(env.client, "GET", f"/api/v1/exports/{first['id']}/download", env.sup, 409)
        # Another supervisor may cancel (cancel_roles); the running job stops at its first block.
        cancelled = await call(env.client, "POST", f"/api/v1/exports/{first['id']}/cancel", env.sup2, 200)
        assert cancelled["state"] == "running"
        gate.set()
        stopped = await finished(env, first["id"], env.sup)
        assert stopped["state"] == "cancelled" and stopped["result"] is None
        done = await finished(env, second["id"], env.sup2)
    assert done["state"] == "done"
    assert when(done["started_at"]) >= when(stopped["finished_at"])  # max_exports 1: one after the other
    assert sorted(p.name for p in exports.directory.iterdir()) == sorted(
        await exports.book.kept_files())  # no partial file left behind
    await call(env.client, "POST", f"/api/v1/exports/{first['id']}/cancel", env.sup, 409)
    logged = [e for e in await log_entries(env, "export_job_cancelled") if e["details"]["job_id"] == first["id"]]
    assert logged and logged[0]["actor"] == "sup2" and logged[0]["details"]["was"] == "running"


async def test_a_queued_job_is_cancelled_at_once(env: Env) -> None:
    exports = env.services.exports
    with gated(env):
        first = await create(env, env.sup)
        await until(lambda: asyncio.sleep(0, first["id"] in exports.runner.running), 10, "the first job running")
        second = await create(env, env.sup)
        cancelled = await call(env.client, "POST", f"/api/v1/exports/{second['id']}/cancel", env.sup, 200)
        assert cancelled["state"] == "cancelled" and cancelled["started_at"] is None
        # An operator may not cancel a supervisor's job (not its own, not in cancel_roles).
        await call(env.client, "POST", f"/api/v1/exports/{first['id']}/cancel", env.ops, 403)
    assert (await finished(env, first["id"], env.sup))["state"] == "done"


async def test_the_event_stream_carries_export_frames(env: Env) -> None:
    frames: list[dict[str, Any]] = []

    async def read() -> None:
        async with env.client.http.get(env.client.url("/api/v1/events/stream"),
                                       headers={"Authorization": f"Bearer {env.sup}"}) as resp:
            kind = None
            async for raw in resp.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "export":
                    frames.append(json.loads(line[6:]))
                    if frames[-1]["state"] == "done":
                        return

    reader = asyncio.create_task(read())
    try:
        await asyncio.sleep(0.5)  # the stream is listening
        job = await create(env, env.sup)
        await asyncio.wait_for(reader, 30)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    states = [f["state"] for f in frames if f["id"] == job["id"]]
    assert states[0] == "queued" and states[-1] == "done" and "running" in states
    assert frames[-1]["result"]["download"] == f"/api/v1/exports/{job['id']}/download"


async def test_an_expired_result_is_deleted_and_answers_gone(env: Env) -> None:
    exports = env.services.exports
    job = await finished(env, (await create(env, env.sup))["id"], env.sup)
    path = exports.directory / job["result"]["name"]
    assert path.exists()
    async with env.services.db() as session, session.begin():
        await session.execute(update(ExportJob).where(ExportJob.id == job["id"])
                              .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert job["id"] in await exports.keeper.sweep()
    assert not path.exists()
    expired = await env.client.get_json(f"/api/v1/exports/{job['id']}", env.sup)
    assert expired["state"] == "expired" and expired["result"] is None
    await call(env.client, "GET", f"/api/v1/exports/{job['id']}/download", env.sup, 410)
    logged = [e for e in await log_entries(env, "export_job_expired") if e["details"]["job_id"] == job["id"]]
    assert logged and logged[0]["details"]["sha256"] == job["result"]["sha256"]


async def test_a_token_job_is_bound_to_the_request_and_uses_one_copy(env: Env, tmp_path: Path) -> None:
    start, end = env.start + timedelta(seconds=2), env.start + timedelta(seconds=20)
    form = request_form("north,south", start, end, max_views=2)
    form.add_field("copies", "1")
    async with env.client.http.post(env.client.url("/api/v1/playback-requests"), data=form,
                                    headers={"Authorization": f"Bearer {env.ops}"}) as resp:
        filed = await resp.json()
        assert resp.status == 201, filed
    approved = await call(env.client, "POST", f"/api/v1/playback-requests/{filed['id']}/approvals", env.sup, 201,
                          json={"note": "ok", "copies": True})
    token = approved["disposition"]["token"]
    job = await call(env.client, "POST", "/api/v1/exports", token, 202, json={})
    assert job["via"] == "token" and job["request_id"] == filed["id"] and job["requested_by"] == "Budi Santoso"
    assert job["cameras"] == ["north", "south"] and job["reason"] == "Theft"
    done = await finished(env, job["id"], token)
    assert done["state"] == "done", done
    # The copy is used: a second job is refused with the policy's reason.
    again = await call(env.client, "POST", "/api/v1/exports", token, 403, json={})
    assert "copies" in again["detail"]
    listed = await env.client.get_json("/api/v1/exports", token)
    assert [j["id"] for j in listed["jobs"]] == [job["id"]]
    out = tmp_path / "token.zip"
    out.write_bytes(await download(env, done, token))
    assert verify_bundle(out, env.key, io.StringIO()) == 0
    with zipfile.ZipFile(out) as zf:
        binding = json.loads(zf.read("manifest.json"))["binding"]
        entry = json.loads(json.loads(zf.read("log/entry.json"))["payload"])
    assert binding["via"] == "token" and binding["request_id"] == filed["id"]
    assert binding["recipient"] == {"name": "Budi Santoso", "organisation": "Polres Kota"}
    assert binding["approvers"] == ["sup"] and len(binding["letter_sha256"]) == 64
    assert binding["token_id"] == approved["disposition"]["id"]
    assert entry["actor"] == "Budi Santoso" and entry["request_id"] == filed["id"]
    assert entry["details"]["letter_sha256"] == binding["letter_sha256"] and entry["details"]["approvers"] == "sup"
    # Staff see the token's job; the token sees none of theirs.
    assert job["id"] in [j["id"] for j in (await env.client.get_json("/api/v1/exports", env.sup2))["jobs"]]
    mine = (await create(env, env.sup))["id"]
    await call(env.client, "GET", f"/api/v1/exports/{mine}", token, 404)


async def test_mp4_copies_with_time_code_go_in_the_zip_and_verify(env: Env, tmp_path: Path) -> None:
    job = await create(env, env.sup, cameras=["north", "south"], formats=["mp4", "bundle"])
    assert job["formats"] == ["bundle", "mp4"]
    done = await finished(env, job["id"], env.sup)
    assert done["state"] == "done", done
    assert done["progress"]["segments_done"] >= done["progress"]["segments_total"] > 0
    out = tmp_path / "mp4.zip"
    out.write_bytes(await download(env, done, env.sup))
    report = io.StringIO()
    assert verify_bundle(out, env.key, report) == 0, report.getvalue()
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        names = {f["name"] for f in manifest["files"]}
        assert names == {"mp4/north.mp4", "mp4/north.frames.csv", "mp4/south.mp4", "mp4/south.frames.csv"}
        assert any(n.startswith("segments/") for n in zf.namelist())
        rows = zf.read("mp4/north.frames.csv").decode().splitlines()
        video = zf.read("mp4/north.mp4")
    assert rows[0] == "frame,file_time_s,utc" and len(rows) > 50
    first = datetime.fromisoformat(rows[1].split(",")[2].replace("Z", "+00:00"))
    assert env.start + timedelta(seconds=4) <= first < env.start + timedelta(seconds=7)  # the first keyframe in the window
    with av.open(io.BytesIO(video)) as container:
        assert [s.type for s in container.streams] == ["video", "subtitle"]
    # MP4 only: no segments in the zip, still verifiable.
    only = await finished(env, (await create(env, env.sup, formats=["mp4"]))["id"], env.sup)
    out2 = tmp_path / "only.zip"
    out2.write_bytes(await download(env, only, env.sup))
    assert verify_bundle(out2, env.key, io.StringIO()) == 0
    with zipfile.ZipFile(out2) as zf:
        assert not any(n.startswith("segments/") for n in zf.namelist())


async def test_a_bearer_that_is_no_token_is_401_and_a_signed_link_downloads(env: Env) -> None:
    await call(env.client, "GET", "/api/v1/exports", "not-a-token", 401)
    await call(env.client, "POST", "/api/v1/exports", "not.a.token", 401, json={})
    job = await finished(env, (await create(env, env.sup))["id"], env.sup)
    link = await call(env.client, "POST", "/api/v1/links", env.sup, 201,
                      json={"url": job["result"]["download"], "ttl_s": 60})
    async with env.client.http.get(link["url"]) as resp:  # no Authorization header
        assert resp.status == 200 and resp.content_type == "application/zip"
        assert len(await resp.read()) == job["result"]["size"]
    logged = [e for e in await log_entries(env, "export_downloaded") if e["details"]["job_id"] == job["id"]]
    assert [(e["actor"], e["details"]["via"]) for e in logged] == [("sup", "link")]


async def test_twenty_concurrent_copies_of_a_one_copy_token_give_one_job(env: Env) -> None:
    start, end = env.start + timedelta(seconds=2), env.start + timedelta(seconds=12)
    form = request_form("north", start, end, max_views=1)
    form.add_field("copies", "1")
    async with env.client.http.post(env.client.url("/api/v1/playback-requests"), data=form,
                                    headers={"Authorization": f"Bearer {env.ops}"}) as resp:
        filed = await resp.json()
        assert resp.status == 201, filed
    approved = await call(env.client, "POST", f"/api/v1/playback-requests/{filed['id']}/approvals", env.sup, 201,
                          json={"note": "one copy", "copies": True})
    token, token_id = approved["disposition"]["token"], approved["disposition"]["id"]

    async def attempt() -> tuple[int, Any]:
        async with env.client.http.post(env.client.url("/api/v1/exports"), json={},
                                        headers={"Authorization": f"Bearer {token}"}) as resp:
            return resp.status, await resp.json()

    answers = await asyncio.gather(*(attempt() for _ in range(20)))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [202] + [403] * 19, statuses
    assert all("all 1 copies are used" in body["detail"] for status, body in answers if status == 403)
    listed = await env.client.get_json("/api/v1/exports", token)
    assert len(listed["jobs"]) == 1
    refusals = [e for e in await log_entries(env, "token_redeemed")
                if e.get("token_id") == token_id and e["outcome"] == "deny"]
    assert len(refusals) == 19 and all(e["reason"].startswith("token_copies_exhausted") for e in refusals)
    assert (await finished(env, listed["jobs"][0]["id"], token))["state"] == "done"
