"""Evidence exports in headless Chromium, end to end (issue 14's "done when").

A supervisor exports two cameras x two minutes for a playback request from the recordings page; the
exports page shows the job's progress advance; the zip the page downloads verifies with
`pantau verify-bundle --public-key` (the access log's key), its MP4s decode without an error and
carry a subtitle track whose cues are the right UTC seconds. An outside party whose disposition
allows one copy downloads it once from the viewer page; the second attempt shows the policy's refusal.

The recordings are real segments written, sealed and logged by the gateway's own recorder, fed
faster than real time (tests/fastrecording.py): minutes of recording cost about a second.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from core.config import Settings
from policy.audit.origin import known_origin
from policy.audit.setup import key_path
from policy.audit.signingkey import load_or_create_key, public_key_text
from streams.state import CameraState
from tests.browser import Page, chromium
from tests.fastrecording import Encoded, encode, feed, idle_camera
from tests.gatewayutil import Client, call, make_settings, request_form, running_gateway, until
from tests.test_browser_wall import ARTIFACTS, PASSWORD, need_chromium, sign_in, sign_out

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
CAMERAS = {"north": "North gate", "south": "South gate"}
RECORDED_S = 150  # per camera; the export takes two minutes of it

# datetime-local values from RFC 3339, as a user types them (the browser's local time).
LOCAL = ("const local = (iso) => { const d = new Date(iso); const p = n => String(n).padStart(2, '0');"
         " return `${d.getFullYear()}-${p(d.getMonth()+1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}"
         ":${p(d.getSeconds())}`; };")

# Every state and bar value the exports page shows for each job, in order (installed before the page loads).
WATCH_PROGRESS = """
window.seenJobs = {};
document.addEventListener('DOMContentLoaded', () => {
  const note = () => {
    for (const row of document.querySelectorAll('#exp-table tr[data-job]')) {
      const bar = row.querySelector('progress');
      const seen = (window.seenJobs[row.dataset.job] ||= []);
      const item = [row.dataset.state, bar ? Number(bar.value) : null];
      const last = seen[seen.length - 1];
      if (!last || last[0] !== item[0] || last[1] !== item[1]) seen.push(item);
    }
  };
  new MutationObserver(note).observe(document.documentElement, { subtree: true, childList: true, attributes: true });
});
"""

# What the export dialog offers: the cameras ticked and the case.
OFFERED = """(() => { const f = document.getElementById('export-form');
  return { cameras: [...f.querySelectorAll('input[name=camera]:checked')].map(i => i.value),
           case_id: f.elements.case_id.value }; })()"""


@functools.cache
def recording() -> Encoded:
    return encode(RECORDED_S, noise=True)  # a camera's bitrate: the job runs long enough to be seen


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


async def recorded(client: Client) -> datetime:
    """Both cameras' RECORDED_S, sealed and indexed, ending more than a minute ago: their start."""
    stream = await asyncio.to_thread(recording)
    services = client.gateway.services
    assert services is not None
    cams = services.cameras
    await until(lambda: asyncio.sleep(0, all(c.status.state is CameraState.OFFLINE for c in cams.values())), 15,
                "the idle cameras' first connect failed")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=RECORDED_S + 70)
    ends = await asyncio.gather(*(feed(cams[cam].hub, stream, start) for cam in CAMERAS))
    admin = await client.sign_in("admin", client.admin_password())

    async def indexed() -> bool:
        for cam in CAMERAS:
            listing = await client.get_json(f"/api/v1/recordings?camera={cam}&start={iso(start)}"
                                            f"&end={iso(datetime.now(UTC))}", admin)
            if not listing["segments"] or listing["segments"][-1]["end"] != iso(ends[0]):
                return False
        return True

    await until(indexed, 30, "the fed recordings are sealed and indexed")
    return start


async def approved_request(client: Client, operator: str, supervisor: str, start: datetime, end: datetime,
                           copies: int = 0) -> tuple[str, str]:
    """A playback request for both cameras over [start, end) filed and approved (copies too):
    (request id, the viewer's token)."""
    form = request_form(",".join(CAMERAS), start, end, max_views=3)
    if copies:
        form.add_field("copies", str(copies))
    async with client.http.post(client.url("/api/v1/playback-requests"), data=form,
                                headers={"Authorization": f"Bearer {operator}"}) as resp:
        filed = await resp.json()
        assert resp.status == 201, filed
    approved = await call(client, "POST", f"/api/v1/playback-requests/{filed['id']}/approvals", supervisor, 201,
                          json={"note": "ok", "copies": bool(copies)})
    return str(filed["id"]), str(approved["disposition"]["token"])


async def downloads_to(page: Page, folder: Path) -> None:
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    await page.send("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(folder), eventsEnabled=False)


async def downloaded(folder: Path, count: int = 1, within_s: float = 30) -> list[Path]:
    """The finished downloads in `folder` once there are `count` (Chromium writes .crdownload first)."""
    async def done() -> list[Path] | None:
        names = await asyncio.to_thread(lambda: sorted(folder.iterdir()))
        files = [p for p in names if not p.name.endswith(".crdownload")]
        return files if len(files) >= count and len(files) == len(names) else None
    return await until(done, within_s, f"{count} download(s) in {folder}")  # type: ignore[no-any-return]


def pantau(*args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in a process of its own."""
    return subprocess.run([sys.executable, "-c", "import sys; from gateway.cli import main; sys.exit(main())", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def published_key(settings: Settings, folder: Path) -> Path:
    """The access log's public key as `pantau log-key` prints it."""
    path = folder / "log-key.pub"
    path.write_text(public_key_text(load_or_create_key(key_path(settings)), known_origin(settings)))
    return path


def subtitle_cues(path: Path) -> list[tuple[float, str]]:
    """The subtitle track as (seconds into the file, text), read by ffmpeg as SRT."""
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:s:0", "-f", "srt", "-"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    cues = []
    for block in out.strip().split("\n\n"):
        lines = block.splitlines()
        h, m, s, ms = map(int, re.split(r"[:,]", lines[1].split(" --> ")[0]))
        cues.append((h * 3600 + m * 60 + s + ms / 1000, " ".join(lines[2:])))
    return cues


def check_mp4(path: Path, frames_csv: bytes, start: datetime, end: datetime, first: datetime) -> None:
    """Decodes without an error; its frames are the recording's own (one every 1/fps s from
    `first`, where the feed began), from a keyframe within a GOP of `start` to `end`; the subtitle
    track has one cue per UTC second, each starting where that second begins in the file."""
    decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
                             capture_output=True, text=True, timeout=120)
    assert decoded.returncode == 0 and not decoded.stderr.strip(), decoded.stderr
    probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)],
                                      capture_output=True, text=True, timeout=60, check=True).stdout)
    kinds = {s["codec_type"]: s for s in probe["streams"]}
    assert kinds["video"]["codec_name"] == "h264" and kinds["subtitle"]["codec_name"] == "mov_text", probe
    stream = recording()
    gop_s = stream.gop / stream.fps
    rows = list(csv.DictReader(io.StringIO(frames_csv.decode())))
    utc0 = datetime.fromisoformat(rows[0]["utc"])
    # The file starts on one of the recording's keyframes, within a GOP of the window's start.
    assert abs((utc0 - start).total_seconds()) < gop_s and ((utc0 - first).total_seconds() / gop_s) % 1 == 0, utc0
    for row in rows:
        shown = utc0 + timedelta(seconds=float(row["file_time_s"]))
        assert abs((datetime.fromisoformat(row["utc"]) - shown).total_seconds()) < 0.001, row
    assert abs(len(rows) - (end - utc0).total_seconds() * stream.fps) <= stream.fps, len(rows)
    cues = subtitle_cues(path)
    assert abs(len(cues) - (end - utc0).total_seconds()) <= 1.5, len(cues)
    stamp = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC")
    for at, text in cues:
        match = stamp.search(text)
        assert match, text
        second = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        begins = (second - utc0).total_seconds()
        # A cue begins where its UTC second begins in the file (the first one: at the file's start).
        assert abs(begins - at) < 0.002 or (at == 0 and -1 < begins <= 0), (at, text, utc0)


def check_zip(path: Path, job: dict[str, Any], public_key: Path, start: datetime, end: datetime,
              first: datetime) -> None:
    """The job's zip: its size, `pantau verify-bundle` with the published key, both cameras' MP4s."""
    assert path.stat().st_size == job["result"]["size"]
    verified = pantau("verify-bundle", str(path), "--public-key", str(public_key))
    assert verified.returncode == 0 and "(trusted key)" in verified.stdout, verified
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        names = zf.namelist()
        mp4s = sorted(n for n in names if n.startswith("mp4/") and n.endswith(".mp4"))
        assert len(mp4s) == 2 and any(n.startswith("segments/") for n in names), names
        for name in mp4s:
            local = path.with_name(Path(name).name)
            local.write_bytes(zf.read(name))
            check_mp4(local, zf.read(name[:-4] + ".frames.csv"), start, end, first)
    assert [c["id"] for c in manifest["cameras"]] == list(CAMERAS), manifest
    assert sorted(f["name"] for f in manifest["files"] if f["kind"] == "mp4") == mp4s, manifest["files"]


@pytest.mark.timeout(180)
async def test_supervisor_exports_two_cameras_from_the_recordings_page(tmp_path: Path) -> None:
    need_chromium()
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}",
                             [idle_camera(cam, name) for cam, name in CAMERAS.items()], recording={"segment_s": 10})
    async with running_gateway(settings) as client, chromium() as page:
        users = client.gateway.services.users  # type: ignore[union-attr]
        await users.add("ops", "operator", PASSWORD)
        await users.add("sup", "supervisor", PASSWORD)
        first = await recorded(client)
        start, end = first + timedelta(seconds=15), first + timedelta(seconds=135)  # two minutes
        sup, ops = await client.sign_in("sup", PASSWORD), await client.sign_in("ops", PASSWORD)
        request_id, _ = await approved_request(client, ops, sup, start, end)

        # From the recordings page: the Export dialog, both cameras, the window, bundle and MP4.
        await page.send("Page.enable")
        await page.send("Page.addScriptToEvaluateOnNewDocument", source=WATCH_PROGRESS)
        await downloads_to(page, tmp_path / "downloads")
        await page.goto(client.url("/static/recordings.html#camera=north"))
        await sign_in(page, "sup", PASSWORD)
        assert "Exports" in await page.evaluate("[...document.querySelectorAll('nav a')].map(a => a.textContent)")
        await page.wait_for("document.getElementById('rec-camera').options.length === 2")
        await page.evaluate("document.getElementById('rec-export').click()")
        await page.wait_for("document.getElementById('export-dialog')?.open")
        await page.screenshot(ARTIFACTS / "export-dialog.png")
        await page.evaluate(f"""(() => {{ {LOCAL} const f = document.getElementById('export-form');
          f.querySelectorAll('input[name=camera]').forEach(i => {{ i.checked = true; }});
          f.querySelector('input[value=mp4]').checked = true;
          f.elements.start.value = local({json.dumps(iso(start))});
          f.elements.end.value = local({json.dumps(iso(end))});
          f.elements.reason.value = 'Police request: theft at the gates';
          f.elements.request_id.value = {json.dumps(request_id)};
          f.requestSubmit(); }})()""")

        # The exports page opens on the new job; its bar moves until the job is done.
        # Either the exports page opens on the new job, or the dialog says why not.
        await page.wait_for("location.pathname === '/static/exports.html'"
                            " || !!document.querySelector('#export-form .form-error')?.textContent")
        assert not await page.evaluate("document.querySelector('#export-form .form-error')?.textContent")
        await page.wait_for("!!document.querySelector('#exp-table tr.highlight')")
        job_id = await page.evaluate("document.querySelector('#exp-table tr.highlight').dataset.job")
        await page.wait_for(f"document.querySelector('tr[data-job=\"{job_id}\"]')?.dataset.state === 'done'", within_s=90)
        seen = await page.evaluate(f"window.seenJobs[{json.dumps(job_id)}]")
        fractions = [f for _, f in seen]
        assert seen[-1] == ["done", 1] and fractions == sorted(fractions), seen
        assert any(state in ("queued", "running") for state, _ in seen), seen
        assert len(set(fractions)) >= 2, seen  # it advanced on the page, not only appeared done
        await page.screenshot(ARTIFACTS / "exports-done.png")
        job = await client.get_json(f"/api/v1/exports/{job_id}", sup)
        assert job["cameras"] == list(CAMERAS) and job["request_id"] == request_id and job["requested_by"] == "sup"
        assert sorted(job["formats"]) == ["bundle", "mp4"] and job["via"] == "user", job

        # Download from the page (a signed link), then check every byte offline.
        await page.evaluate(f"document.querySelector('tr[data-job=\"{job_id}\"] .exp-download').click()")
        [zip_path] = await downloaded(tmp_path / "downloads")
        await asyncio.to_thread(check_zip, zip_path, job, published_key(settings, tmp_path), start, end, first)

        # From a case: its cameras over what its holds cover, with the case's id on the job.
        case = await call(client, "POST", "/api/v1/cases", sup, 201, json={
            "kind": "incident", "cameras": ["south"], "title": "Gate forced", "severity": "high",
            "at": iso(first + timedelta(seconds=60))})
        await page.goto(client.url(f"/static/cases.html#case={case['id']}"))
        await page.wait_for("!!document.querySelector('details[data-action=case-export]')")
        await page.evaluate("document.querySelector('details[data-action=case-export]').open = true;"
                            " document.getElementById('case-export').click()")
        await page.wait_for("document.getElementById('export-dialog')?.open")
        offered = await page.evaluate(OFFERED)
        assert offered == {"cameras": ["south"], "case_id": case["id"]}, offered
        await page.evaluate("(() => { const f = document.getElementById('export-form');"
                            " f.elements.reason.value = 'Case file'; f.requestSubmit(); })()")
        await page.wait_for("location.pathname === '/static/exports.html'"
                            " && document.querySelector('#exp-table tr.highlight')?.dataset.state === 'done'", within_s=60)
        case_job = await page.evaluate("document.querySelector('#exp-table tr.highlight').dataset.job")
        assert (await client.get_json(f"/api/v1/exports/{case_job}", sup))["case_id"] == case["id"]

        # An auditor reads every job (access.exports.reader_roles) from the menu; cancels none.
        await users.add("aud", "auditor", PASSWORD)
        await sign_out(page)
        await sign_in(page, "aud", PASSWORD)
        await page.wait_for("document.querySelectorAll('#exp-table tr[data-job]').length === 2")
        assert await page.evaluate("[...document.querySelectorAll('nav a')].map(a => a.textContent)") == [
            "Video wall", "Camera tour", "Exports"]
        assert await page.evaluate("document.querySelectorAll('#exp-table .exp-download').length") == 2
        assert await page.evaluate("document.querySelectorAll('#exp-table .exp-cancel').length") == 0
        assert page.errors == [], page.errors


@pytest.mark.timeout(120)
async def test_outside_party_downloads_its_one_copy_from_the_viewer_page(tmp_path: Path) -> None:
    need_chromium()
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}",
                             [idle_camera(cam, name) for cam, name in CAMERAS.items()], recording={"segment_s": 10})
    async with running_gateway(settings) as client, chromium() as page:
        users = client.gateway.services.users  # type: ignore[union-attr]
        await users.add("ops", "operator", PASSWORD)
        await users.add("sup", "supervisor", PASSWORD)
        first = await recorded(client)
        start, end = first + timedelta(seconds=20), first + timedelta(seconds=50)
        sup, ops = await client.sign_in("sup", PASSWORD), await client.sign_in("ops", PASSWORD)
        _, token = await approved_request(client, ops, sup, start, end, copies=1)

        await downloads_to(page, tmp_path / "downloads")
        await page.goto(client.url(f"/static/view.html#token={token}"))
        await page.wait_for("!document.getElementById('copy').hidden")
        await page.evaluate("document.getElementById('copy-download').click()")
        await page.wait_for("!!document.getElementById('copy').dataset.saved"
                            " || !document.getElementById('copy-refusal').hidden", within_s=60)
        assert await page.evaluate("document.getElementById('copy-refusal').hidden"), await page.evaluate(
            "document.getElementById('copy-refusal').textContent")
        [zip_path] = await downloaded(tmp_path / "downloads")
        await page.screenshot(ARTIFACTS / "view-copy.png")
        verified = await asyncio.to_thread(pantau, "verify-bundle", str(zip_path), "--public-key",
                                           str(published_key(settings, tmp_path)))
        assert verified.returncode == 0, verified
        assert page.errors == [], page.errors

        # The one copy is used: a second Download is refused, in the policy's words.
        await page.evaluate("document.getElementById('copy-download').click()")
        await page.wait_for("!document.getElementById('copy-refusal').hidden")
        text = await page.evaluate("document.getElementById('copy-refusal-text').textContent")
        assert text == "all 1 copies are used", text  # the policy's reason (rule T8), as the gateway gave it
        assert await page.evaluate("document.getElementById('refusal').hidden")  # replay itself is not refused
        await page.screenshot(ARTIFACTS / "view-copy-refused.png")
        assert len(await downloaded(tmp_path / "downloads")) == 1
        async with aiohttp.ClientSession() as http:  # and the job list holds the one job of this token
            async with http.get(client.url("/api/v1/exports"), headers={"Authorization": f"Bearer {token}"}) as resp:
                listing: Any = await resp.json()
        jobs = listing if isinstance(listing, list) else listing["jobs"]
        assert [j["via"] for j in jobs] == ["token"], jobs
