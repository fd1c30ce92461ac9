"""The recordings page's marks in headless Chromium (issue 16 part 4): an operator marks a range
with the keys "[" and "]" at the player's moment and bookmarks it with a note; the bookmark is in
the database and in the access log with its hash, and flagged on the timeline. The operator's
"Hold this range" is refused by the policy, the page says so, and the refusal is in the access log;
a supervisor's hold from the page is placed (database, access log) and listed with its release."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from core.config import CameraConfig
from evidence.models import Snapshot
from recorder.models import Bookmark, Hold
from streams.state import CameraState
from tests.browser import Page, chromium
from tests.desk.deskutil import log_entries
from tests.fastrecording import encode, feed, idle_camera
from tests.fixtures_camera import CameraServer
from tests.gatewayutil import Client, make_settings, running_gateway, until
from tests.test_browser_wall import ARTIFACTS, PASSWORD, need_chromium, sign_in, sign_out

pytestmark = pytest.mark.slow
RECORDED_S = 120

LOCAL = ("const local = (d) => { const p = n => String(n).padStart(2, '0');"
         " return `${d.getFullYear()}-${p(d.getMonth()+1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}"
         ":${p(d.getSeconds())}`; };")


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


async def recorded(client: Client) -> datetime:
    """RECORDED_S of camera gate, sealed and indexed: its start."""
    stream = await asyncio.to_thread(encode, RECORDED_S)
    services = client.gateway.services
    assert services is not None
    camera = services.cameras["gate"]
    await until(lambda: asyncio.sleep(0, camera.status.state is CameraState.OFFLINE), 15, "the idle camera's connect failed")
    # The page shows one local day: a recording that began before midnight would straddle two.
    local = datetime.now().astimezone()
    since_midnight = (local - local.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds()
    if since_midnight < RECORDED_S + 40:
        await asyncio.sleep(RECORDED_S + 40 - since_midnight)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=RECORDED_S + 30)
    end = await feed(camera.hub, stream, start)
    admin = await client.sign_in("admin", client.admin_password())

    async def indexed() -> bool:
        listing = await client.get_json(f"/api/v1/recordings?camera=gate&start={iso(start)}&end={iso(datetime.now(UTC))}",
                                        admin)
        return bool(listing["segments"]) and listing["segments"][-1]["end"] == iso(end)

    await until(indexed, 30, "the fed recording is sealed and indexed")
    return start


async def key(page: Page, char: str) -> None:
    """A key typed on the keyboard (CDP input, as a person presses it)."""
    await page.send("Input.dispatchKeyEvent", type="keyDown", key=char, text=char)
    await page.send("Input.dispatchKeyEvent", type="keyUp", key=char)


async def mark_range(page: Page, first: datetime, last: datetime) -> None:
    """Replay from `first`, "[", replay from `last`, "]": the player's moment each time."""
    for at, char in ((first, "["), (last, "]")):
        await page.evaluate(f"""(() => {{ {LOCAL} document.getElementById('rec-from').value = local(new Date({json.dumps(iso(at))}));
          document.getElementById('rec-play').click(); document.getElementById('rec-play').focus(); }})()""")
        await page.wait_for("!!document.querySelector('#replay .player')")
        await key(page, char)
    await page.wait_for("!document.getElementById('mark-hold').disabled")


@pytest.mark.timeout(480)
async def test_bookmark_and_hold_from_the_recordings_page(tmp_path: Path) -> None:
    need_chromium()
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", [idle_camera("gate", "Gate")],
                             recording={"segment_s": 10})
    async with running_gateway(settings) as client, chromium() as page:
        services = client.gateway.services
        assert services is not None
        await services.users.add("ops", "operator", PASSWORD)
        await services.users.add("sup", "supervisor", PASSWORD)
        start = await recorded(client)
        admin = await client.sign_in("admin", client.admin_password())
        first, last = start + timedelta(seconds=20), start + timedelta(seconds=80)

        day = start.astimezone().date().isoformat()
        await page.goto(client.url(f"/static/recordings.html#camera=gate&day={day}"))
        await sign_in(page, "ops", PASSWORD)
        await page.wait_for("document.querySelectorAll('#timeline-wrap .seg, .timeline .seg').length > 0")
        await mark_range(page, first, last)
        # A bookmark of the range, with a note.
        await page.evaluate("document.getElementById('mark-bookmark').click()")
        await page.wait_for("document.activeElement === document.getElementById('bookmark-note')")
        await page.evaluate("""(() => { document.getElementById('bookmark-note').value = 'Grey van stops at the barrier';
          document.querySelector('#marks form:not([hidden]) button.primary').click(); })()""")
        await page.wait_for("document.querySelectorAll('#marks .bookmarks li[data-bookmark]').length === 1")
        assert await page.evaluate("document.querySelectorAll('.timeline .bookmark-flag').length") == 1
        async with services.db() as session:
            (row,) = (await session.scalars(select(Bookmark))).all()
        assert row.camera_id == "gate" and row.author == "ops" and row.note == "Grey van stops at the barrier"
        assert row.end is not None
        assert abs((row.start - first).total_seconds()) < 5 and abs((row.end - last).total_seconds()) < 5, (row.start, row.end)
        (placed,) = await log_entries(client, admin, "bookmark_placed")
        assert placed["payload"]["actor"] == "ops" and placed["payload"]["details"]["sha256"] == row.sha256

        # The operator's hold is refused by the policy: shown on the page, logged, nothing held.
        await page.evaluate("document.getElementById('mark-hold').click()")
        await page.evaluate("""(() => { document.getElementById('hold-reason').value = 'Police report 17';
          document.querySelector('#marks form:not([hidden]) button.primary').click(); })()""")
        refusal = await page.wait_for("document.querySelector('#marks .marks-message.error')?.textContent")
        assert "policy" in refusal and "place_hold" in refusal, refusal
        denied = [e["payload"] for e in await log_entries(client, admin, "decision")
                  if e["payload"]["outcome"] == "deny" and e["payload"]["details"].get("action") == "place_hold"]
        assert [d["actor"] for d in denied] == ["ops"]
        assert await page.evaluate("document.querySelector('#marks .marks-holds').hidden")  # operators read no holds
        await page.screenshot(ARTIFACTS / "marks-operator.png")

        # A supervisor holds the range from the page.
        await sign_out(page)
        await sign_in(page, "sup", PASSWORD)
        await page.wait_for("document.querySelectorAll('.timeline .seg').length > 0")
        await page.wait_for("document.querySelectorAll('#marks .bookmarks li[data-bookmark]').length === 1")
        await mark_range(page, first, last)
        await page.evaluate("document.getElementById('mark-hold').click()")
        await page.evaluate("""(() => { document.getElementById('hold-reason').value = 'Police report 17';
          document.querySelector('#marks form:not([hidden]) button.primary').click(); })()""")
        await page.wait_for("document.querySelectorAll('#marks .holds li[data-hold]').length === 1")
        async with services.db() as session:
            (hold,) = (await session.scalars(select(Hold))).all()
        assert hold.owner == "sup" and hold.reason == "Police report 17" and hold.released_at is None
        assert abs((hold.start - first).total_seconds()) < 5 and abs((hold.end - last).total_seconds()) < 5
        (hold_logged,) = await log_entries(client, admin, "hold_placed")
        assert hold_logged["payload"]["actor"] == "sup"
        # Bookmarks flagged and listed, the range drawn, the hold listed: the picture a person sees.
        await page.evaluate("""(() => { const zoom = document.querySelector('.timeline-wrap select');
          zoom.value = '10'; zoom.dispatchEvent(new Event('change'));
          document.querySelector('.timeline-wrap').scrollIntoView(); })()""")
        assert await page.evaluate("document.querySelectorAll('.timeline .mark-range').length") == 1
        await page.screenshot(ARTIFACTS / "marks-supervisor.png")
        # A snapshot of the player's moment: the recorded frame, taken by the gateway.
        await page.evaluate("document.getElementById('mark-snapshot').click()")
        size = await page.wait_for("""(() => { const img = document.querySelector('#marks .snap-image');
          return img && img.complete && img.naturalWidth ? [img.naturalWidth, img.naturalHeight] : null; })()""")
        assert size == [320, 180]
        async with services.db() as session:
            (shot,) = (await session.scalars(select(Snapshot))).all()
        assert shot.source == "recording" and shot.taken_by == "sup" and abs((shot.at - last).total_seconds()) < 5
        # Released from the list with a reason.
        await page.evaluate("document.querySelector('#marks .release-hold').click()")
        await page.evaluate("""(() => { const f = document.querySelector('#marks .holds form');
          f.querySelector('input').value = 'Case closed'; f.requestSubmit(); })()""")
        await page.wait_for("document.querySelector('#marks .marks-message')?.textContent.includes('released')")
        async with services.db() as session:
            (hold,) = (await session.scalars(select(Hold))).all()
        assert hold.released_by == "sup" and hold.release_reason == "Case closed"


@pytest.mark.timeout(180)
async def test_snapshot_from_a_wall_tile(tmp_path: Path, camera_server: Callable[..., CameraServer]) -> None:
    """A viewer's **Snapshot** on a live tile: the gateway's JPEG is shown, downloaded (it decodes at
    the camera's size and hashes as the record says) and logged with its hash."""
    need_chromium()
    server = camera_server({"live": "ball+320x180"})
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}",
                             [CameraConfig(id="gate", name="Gate", source=server.url("live"))])
    async with running_gateway(settings) as client, chromium() as page:
        services = client.gateway.services
        assert services is not None
        await services.users.add("vera", "viewer", PASSWORD)
        admin = await client.sign_in("admin", client.admin_password())
        folder = tmp_path / "downloads"
        folder.mkdir()
        await page.send("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(folder), eventsEnabled=False)
        await page.goto(client.url("/"))
        await sign_in(page, "vera", PASSWORD)
        await page.wait_for("!!document.querySelector('#cam-gate .snapshot-button')")
        await page.wait_for("document.querySelector('#cam-gate .badge')?.textContent === 'Online'", within_s=25)
        await page.evaluate("document.querySelector('#cam-gate .snapshot-button').click()")
        shown = await page.wait_for("""(() => { const img = document.querySelector('#snapshot-dialog .snap-image');
          return img && img.complete && img.naturalWidth ? [img.naturalWidth, img.naturalHeight] : null; })()""")
        assert shown == [320, 180]
        await page.screenshot(ARTIFACTS / "snapshot-tile.png")
        async with services.db() as session:
            (row,) = (await session.scalars(select(Snapshot))).all()
        assert row.source == "live" and row.taken_by == "vera" and row.camera_id == "gate"

        async def saved() -> list[Path] | None:
            files = [p for p in folder.iterdir() if p.suffix == ".jpg"]
            return files or None

        (jpeg_file,) = await until(saved, 15, "the downloaded JPEG")
        data = jpeg_file.read_bytes()
        assert hashlib.sha256(data).hexdigest() == row.sha256
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape[:2] == (180, 320)
        (logged,) = await log_entries(client, admin, "snapshot_taken")
        assert logged["payload"]["actor"] == "vera" and logged["payload"]["details"]["sha256"] == row.sha256
