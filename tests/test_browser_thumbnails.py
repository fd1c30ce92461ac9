"""The recordings page's thumbnail strip in headless Chromium (issue 16): an hour of one camera,
written, sealed and indexed by the gateway's own recorder (fed faster than real time:
tests/fastrecording.py), zoomed to that hour by the keyboard; the strip shows decodable pictures
along it (naturalWidth in the page), hovering the bar shows the nearest one larger with its time,
and a picture is a button that replays from its time. The screenshot goes to tests/artifacts/.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.utctime import parse_rfc3339
from streams.state import CameraState
from tests.browser import chromium
from tests.fastrecording import encode, feed, idle_camera
from tests.gatewayutil import make_settings, running_gateway, until
from tests.test_browser_wall import ARTIFACTS, PASSWORD, need_chromium, sign_in

pytestmark = pytest.mark.slow

STRIP = """(() => [...document.querySelectorAll('.thumbstrip .thumb img')].map(img => ({
  complete: img.complete, width: img.naturalWidth, height: img.naturalHeight,
  label: img.parentElement.getAttribute('aria-label'), left: parseFloat(img.parentElement.style.left) })))()"""


@pytest.mark.timeout(240)
async def test_the_strip_shows_the_hour_and_the_hover_preview(tmp_path: Path) -> None:
    need_chromium()
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}",
                             [idle_camera("gate", "North gate")], recording={"segment_s": 60, "min_free_bytes": 0})
    # A whole hour that ended at least half an hour ago, on one local day of the browser's (the page
    # shows days; this machine's zone is the browser's).
    hour = (datetime.now(UTC) - timedelta(minutes=90)).replace(minute=0, second=0, microsecond=0)
    stream = await asyncio.to_thread(encode, 3600, 5, (320, 180), 2.0)
    async with running_gateway(settings) as client, chromium() as page:
        services = client.gateway.services
        assert services is not None
        cam = services.cameras["gate"]

        async def listening() -> bool:
            return cam.status.state is CameraState.OFFLINE and any(
                s.name == "recorder-gate" for s in cam.hub._subscribers)

        await until(listening, 15, "the idle camera, the recorder listening")
        end = await feed(cam.hub, stream, hour)
        await services.users.add("ops", "operator", PASSWORD)
        admin = await client.sign_in("admin", client.admin_password())

        async def sealed() -> bool:
            body = await client.get_json(f"/api/v1/recordings?camera=gate&start={hour.isoformat().replace('+00:00', 'Z')}"
                                         f"&end={end.isoformat().replace('+00:00', 'Z')}", admin)
            return len(body["segments"]) >= 59 and parse_rfc3339(body["segments"][-1]["end"]) == end

        await until(sealed, 90, "an hour of segments sealed and indexed")

        local = hour.astimezone()
        await page.goto(client.url(f"/static/recordings.html#camera=gate&day={local.date().isoformat()}"))
        await sign_in(page, "ops", PASSWORD)
        await page.wait_for("document.querySelectorAll('.timeline .seg').length > 0")
        # The keyboard: the cursor from midnight to the middle of the hour in 10 minute steps, then 1 h zoom.
        steps = (local.hour * 60 + 30) // 10
        await page.evaluate(f"""(() => {{ const bar = document.querySelector('.timeline');
          for (let i = 0; i < {steps}; i++) bar.dispatchEvent(new KeyboardEvent('keydown', {{ key: 'ArrowRight', shiftKey: true }}));
          const zoom = document.querySelector('.timeline-wrap select'); zoom.value = '60';
          zoom.dispatchEvent(new Event('change')); }})()""")
        await page.wait_for("""(() => { const imgs = [...document.querySelectorAll('.thumbstrip .thumb img')];
          return imgs.length >= 10 && imgs.every(i => i.complete && i.naturalWidth > 0); })()""", within_s=60)
        strip = await page.evaluate(STRIP)
        assert all(s["width"] == 160 and s["height"] == 90 for s in strip), strip
        lefts = [s["left"] for s in strip]
        # Along the whole hour, in order: the first in the first tenth, the last in the last.
        assert lefts == sorted(lefts) and lefts[0] < 10 and lefts[-1] > 90, lefts
        width = await page.evaluate("document.querySelector('.thumbstrip').getBoundingClientRect().width")
        assert abs(len(strip) - round(width / 80)) <= 1, (len(strip), width)

        # Hover the bar at a third of the hour: the preview shows the nearest picture and its time.
        box = await page.evaluate("""(() => { const r = document.querySelector('.timeline').getBoundingClientRect();
          return { x: r.left, y: r.top, w: r.width, h: r.height }; })()""")
        await page.send("Input.dispatchMouseEvent", type="mouseMoved",
                        x=box["x"] + box["w"] / 3, y=box["y"] + box["h"] / 2)
        await page.wait_for("(() => { const f = document.querySelector('.thumb-preview');"
                            " return !f.hidden && f.querySelector('img').naturalWidth === 160; })()")
        caption = await page.evaluate("document.querySelector('.thumb-preview figcaption').textContent")
        shown = (local + timedelta(minutes=20)).strftime("%H:%M")
        assert caption[:2] == shown[:2] and abs(int(caption[3:5]) - int(shown[3:5])) <= 3, (caption, shown)
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(ARTIFACTS / "recordings-thumbnails.png")
        await page.send("Input.dispatchMouseEvent", type="mouseMoved", x=5, y=5)
        await page.wait_for("document.querySelector('.thumb-preview').hidden")

        # Keyboard: the fourth picture is a button that replays from its time.
        label = await page.evaluate("""(() => { const b = document.querySelectorAll('.thumbstrip .thumb')[3];
          b.focus(); return document.activeElement === b ? b.getAttribute('aria-label') : null; })()""")
        assert label, "the picture takes the focus"
        await page.send("Input.dispatchKeyEvent", type="keyDown", key="Enter", code="Enter",
                        windowsVirtualKeyCode=13, text="\r")
        await page.send("Input.dispatchKeyEvent", type="keyUp", key="Enter", code="Enter", windowsVirtualKeyCode=13)
        await page.wait_for("!!document.querySelector('#replay').firstElementChild")
        chosen = await page.evaluate("document.getElementById('rec-from').value")
        assert chosen and chosen[11:16] in label, (chosen, label)

        # The page asked once per view: each request is one `thumbnails` entry.
        body = await client.get_json("/api/v1/access-log?action=thumbnails&limit=100", admin)
        entries = [e["payload"] for e in body["entries"]]
        assert entries and all(e["actor"] == "ops" and e["camera"] == "gate" for e in entries), entries
        assert len(entries) <= 3, json.dumps(entries)[:500]
