"""The browser pages in Debian's headless Chromium against a running gateway and real test cameras.

One gateway and one browser serve every check of a test (the machine has two cores): the wall signs
in and decodes two live tiles, the language switch relabels the page, the camera tour advances, an
operator files a playback request through the form (letter upload included), a supervisor approves
it and gets the viewer link once, and the external viewer page refuses a missing or forged token
and plays the approved window with the real one.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest

from core.config import ROLES, CameraConfig
from onvif_adapters.subscription import CameraEvent
from onvif_adapters.topics import EventKind
from tests.browser import CHROMIUM, Page, chromium
from webrtc.livevideo import Refusal
from tests.fixtures_camera import CameraServer
from tests.fixtures_onvif import OnvifDevice
from tests.gatewayutil import Client, make_settings, running_gateway

STATIC = Path(__file__).resolve().parent.parent / "gateway" / "static"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
HAVE_CHROMIUM = Path(CHROMIUM).exists()
PASSWORD = "password-123"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(200)

TILE_STATS = """(async () => {
  const out = {};
  for (const tile of document.querySelectorAll('.tile[data-camera]')) {
    const video = tile.querySelector('video');
    let frames = 0;
    if (tile.pc) (await tile.pc.getStats()).forEach(r => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') frames = r.framesDecoded || 0;
    });
    out[tile.id] = {frames, time: video.currentTime, width: video.videoWidth, height: video.videoHeight,
                    badge: tile.querySelector('.badge').textContent};
  }
  return out;
})()"""

# Both wall tiles decode (a fresh peer counts from zero): the stats, or false.
DECODING = (f"(async () => {{ const s = await {TILE_STATS}; return Object.keys(s).length === 2"
            " && Object.values(s).every(t => t.frames > 0 && t.time > 0) && s; })()")

PLAYER_FRAMES = """(async () => {
  const node = document.querySelector('.player');
  let frames = 0;
  if (node && node.pc) (await node.pc.getStats()).forEach(r => {
    if (r.type === 'inbound-rtp' && r.kind === 'video') frames = r.framesDecoded || 0;
  });
  return frames;
})()"""


# The modules' pure logic, table-checked in the page itself (no Node.js here): returns what failed.
PURE_LOGIC = r"""(async () => {
  const bad = [];
  const check = (name, ok) => { if (!ok) bad.push(name); };
  const { backoff } = await import('/static/js/whep.js');
  for (let attempt = 0; attempt < 12; attempt++) {
    const ceiling = Math.min(30000, 1000 * 2 ** attempt);
    check(`backoff low ${attempt}`, backoff(attempt, 1000, 30000, () => 0) === ceiling / 2);
    check(`backoff high ${attempt}`, backoff(attempt, 1000, 30000, () => 0.999999) <= ceiling);
  }
  check('backoff capped', backoff(50) <= 30000);
  const { parseSSE } = await import('/static/js/eventstream.js');
  const { normalKind } = await import('/static/js/alarms.js');
  const got = [];
  const rest = parseSSE(': hi\n\nevent: camera-event\ndata: {"a":1}\n\n: keepalive\n\n'
    + 'id: 42\r\nevent: alert\r\ndata: {"seq":\r\ndata:42}\r\n\r\nretry: 5\n\ndata: {"b"', e => got.push(e));
  check('sse events', JSON.stringify(got) === JSON.stringify([
    {event: 'camera-event', data: '{"a":1}', id: null}, {event: 'alert', data: '{"seq":\n42}', id: '42'}]));
  check('sse rest', rest === 'data: {"b"');
  check('kind', normalKind('Video-Loss') === 'video_loss');
  const { spans } = await import('/static/js/timeline.js');
  const iso = (s) => new Date(s * 1000).toISOString();
  const merged = spans([{start: iso(0), end: iso(60)}, {start: iso(61), end: iso(120)}, {start: iso(200), end: null}],
                       0, 300000);
  check('spans merge', JSON.stringify(merged) === JSON.stringify([[0, 120000], [200000, 300000]]));
  const { describe } = await import('/static/js/livetile.js');
  const soon = new Date(Date.now() + 9000).toISOString();
  const r = describe({state: 'offline', reason: 'refused', next_retry_at: soon, attempt: 3});
  check('retry badge', r.badge === 'reconnecting' && /^refused — next try at .* \(in (8|9) s\)$/.test(r.text));
  check('offline', describe({state: 'offline', reason: 'gone'}).badge === 'offline');
  check('connecting', describe({state: 'connecting', attempt: 0}).badge === 'connecting');
  // Several nodes: a camera another node ingests plays from there; between nodes it waits.
  const { playable } = await import('/static/js/livetile.js');
  const away = {state: 'remote', node: {id: 'node-b', url: 'http://b:8080', here: false}, live_url: 'http://b:8080/whep/live/x'};
  check('remote badge', describe(away).badge === 'remote' && describe(away).text === 'Ingested by node node-b');
  check('remote plays', playable(away) && !playable({...away, node: null, live_url: null}));
  check('between nodes', describe({state: 'remote', node: null}).badge === 'connecting');
  check('reconnecting', describe({state: 'connecting', attempt: 2}).text === 'Connecting again (attempt 2)');
  check('degraded', describe({state: 'degraded', problems: ['frozen', 'new_one']}).text === 'frozen picture, new_one');
  const { claimsOf } = await import('/static/js/jwt.js');
  const b64url = (o) => btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify(o))))
    .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const claims = claimsOf(`${b64url({alg: 'EdDSA'})}.${b64url({cams: ['a'], win: {start: 's', end: 'e'}, sub: 'Ñoño'})}.sig`);
  check('jwt', claims && claims.sub === 'Ñoño' && claims.cams[0] === 'a');
  check('jwt garbage', claimsOf('not-a-token') === null && claimsOf('a.b.c') === null && claimsOf('') === null);
  return bad;
})()"""


# --- pure checks of the page sources -------------------------------------------------------------

# Keys built at run time from a prefix and a value the API or the code supplies.
DYNAMIC: dict[str, list[str]] = {
    "state": ["online", "degraded", "connecting", "reconnecting", "offline", "disabled", "remote"],
    "alarm": ["tamper", "video_loss"],
    "role": list(ROLES),
    "lang": ["en", "id"],
    "status": ["pending", "approved", "refused"],
    "verdict": ["approve", "refuse"],
    "problem": ["black", "blank", "frozen", "blurred", "scene_changed", "substream"],
    "rec": ["zoom1440", "zoom360", "zoom60", "zoom10"],
    "live": [reason.value for reason in Refusal],  # why a live stream was refused (the tile's words)
}


def used_keys(namespaces: set[str]) -> set[str]:
    """Every i18n key the pages and modules name literally: data-i18n attributes in the pages,
    and in the modules every string literal of the form "<namespace>.<name>"."""
    keys: set[str] = set()
    names = "|".join(sorted(namespaces))
    literal = re.compile(r'"((?:' + names + r')\.[A-Za-z_]+)"')
    for path in [*STATIC.glob("*.html"), *STATIC.glob("js/*.js")]:
        text = path.read_text()
        keys |= set(re.findall(r'data-i18n="([\w.]+)"', text))
        for attrs in re.findall(r'data-i18n-attr="([^"]+)"', text):
            keys |= {pair.split(":")[1].strip() for pair in attrs.split(";") if ":" in pair}
        if path.suffix == ".js":
            for attrs in re.findall(r'i18nAttr: "([^"]+)"', text):
                keys |= {pair.split(":")[1].strip() for pair in attrs.split(";") if ":" in pair}
            keys |= set(literal.findall(text))
    return keys


def test_both_dictionaries_have_the_same_keys_and_every_used_key() -> None:
    en = json.loads((STATIC / "i18n" / "en.json").read_text())
    id_ = json.loads((STATIC / "i18n" / "id.json").read_text())
    assert set(en) == set(id_), sorted(set(en) ^ set(id_))
    assert all(isinstance(v, str) and v.strip() for v in [*en.values(), *id_.values()])
    wanted = used_keys({k.split(".")[0] for k in en}) | {
        f"{prefix}.{name}" for prefix, names in DYNAMIC.items() for name in names}
    assert not wanted - set(en), f"missing: {sorted(wanted - set(en))}"
    assert not set(en) - wanted, f"never used: {sorted(set(en) - wanted)}"
    # Placeholders agree between the languages ("{n} of {total}").
    for key in en:
        assert set(re.findall(r"\{(\w+)\}", en[key])) == set(re.findall(r"\{(\w+)\}", id_[key])), key


def test_pages_load_nothing_from_outside() -> None:
    """The CCTV network is closed: no CDN, font or image from the internet, no inline handlers."""
    for path in [*STATIC.glob("*.html"), *STATIC.glob("js/*.js"), STATIC / "pantau.css"]:
        text = path.read_text()
        assert not re.search(r"(?:src|href)=\"https?://|url\(\s*['\"]?https?://|@import|//cdn", text), path.name
        assert not re.search(r"\son[a-z]+=\"", text), f"{path.name}: inline event handler"
    for path in STATIC.glob("*.html"):
        # The browser enforces it too: the browser tests fail on any policy violation (tests/browser.py).
        assert re.search(r"Content-Security-Policy\" content=\"default-src 'self';", path.read_text()), path.name


# --- the browser ----------------------------------------------------------------------------------

def need_chromium() -> None:
    if not HAVE_CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is required in CI (scripts/test installs it)")
        pytest.skip("Debian's chromium is not installed (scripts/test installs it)")


async def sealed_until(client: Client, camera: str, since: datetime, segments: int) -> datetime:
    """The end of the `segments`-th sealed segment of `camera` after `since`, once it is indexed."""
    token = await client.sign_in("admin", client.admin_password())
    deadline = time.monotonic() + 30
    while True:
        query = urlencode({"camera": camera, "start": since.isoformat(), "end": datetime.now(UTC).isoformat()})
        listing = await client.get_json(f"/api/v1/recordings?{query}", token)
        if len(listing["segments"]) >= segments:
            return datetime.fromisoformat(listing["segments"][segments - 1]["end"].replace("Z", "+00:00"))
        assert time.monotonic() < deadline, f"fewer than {segments} sealed segments in 30 s: {listing}"
        await asyncio.sleep(0.5)  # polling the index; the recorder seals every 2 s


async def sign_in(page: Page, username: str, password: str) -> None:
    await page.wait_for("!!document.getElementById('signin')")
    await page.evaluate(
        "(() => { const f = document.getElementById('signin');"
        f" f.username.value = {json.dumps(username)}; f.password.value = {json.dumps(password)};"
        " f.requestSubmit(); })()"
    )
    await page.wait_for("!document.getElementById('page').hidden && !document.getElementById('signin')")


async def sign_out(page: Page) -> None:
    await page.evaluate("document.getElementById('signout').click()")
    await page.wait_for("!!document.getElementById('signin')")


async def test_wall_signs_in_decodes_tiles_switches_language_and_tours(
    tmp_path: Path, camera_server: Callable[..., CameraServer]
) -> None:
    need_chromium()
    server = camera_server({"north": "ball", "south": "snow"})
    # Short timeouts and retries: the test takes the cameras down and back up.
    quick = {"read_timeout_s": 2.0, "stall_timeout_s": 2.0, "backoff": {"initial_s": 1.0, "max_s": 2.0}}
    cams = [CameraConfig(id="gate-north", name="North gate", source=server.url("north"), groups=["gates"], **quick),
            CameraConfig(id="gate-south", name="South gate", source=server.url("south"), groups=["gates"], **quick)]
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cams)
    async with running_gateway(settings) as client, chromium() as page:
        await page.goto(client.url("/"))
        await page.evaluate("localStorage.clear()")
        assert await page.evaluate(PURE_LOGIC) == [], "pure module checks failed"
        await sign_in(page, "admin", client.admin_password())

        # Two tiles decode: frames counted by the peer and the video's clock running.
        first = await page.wait_for(DECODING, within_s=25)
        await asyncio.sleep(2.0)
        later = await page.evaluate(TILE_STATS)
        await page.screenshot(ARTIFACTS / "wall-live.png")
        for tile in ("cam-gate-north", "cam-gate-south"):
            assert (later[tile]["width"], later[tile]["height"]) == (640, 360)
            assert later[tile]["frames"] > first[tile]["frames"] + 20  # ~25 fps for 2 s
            assert later[tile]["time"] > first[tile]["time"] + 1.0
            assert later[tile]["badge"] == "Online"
        token = await client.sign_in("admin", client.admin_password())
        live = await client.get_json("/api/v1/access-log?action=live_start", token)
        assert {e["payload"]["camera"] for e in live["entries"]} >= {"gate-north", "gate-south"}

        # Double-click makes a tile full screen; Enter on the focused tile leaves it.
        box = await page.evaluate("(() => { const r = document.getElementById('cam-gate-north').getBoundingClientRect();"
                                  " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()")
        for count in (1, 2):
            for kind in ("mousePressed", "mouseReleased"):
                await page.send("Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"], button="left",
                                clickCount=count)
        await page.wait_for("document.fullscreenElement?.id === 'cam-gate-north'", within_s=5)
        await page.evaluate("document.getElementById('cam-gate-north').focus()")
        for kind in ("keyDown", "keyUp"):
            await page.send("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter", windowsVirtualKeyCode=13)
        await page.wait_for("document.fullscreenElement === null", within_s=5)

        # The layout choice: one tile per screen pages through the cameras and closes the other peer.
        await page.evaluate("(() => { const s = document.getElementById('layout'); s.value = '1';"
                            " s.dispatchEvent(new Event('change')); })()")
        assert await page.evaluate("document.querySelectorAll('.tile[data-camera]').length") == 1
        assert "1" in await page.evaluate("document.getElementById('page-of').textContent")
        await page.evaluate("document.getElementById('next-page').click()")
        assert await page.evaluate("document.querySelector('.tile[data-camera]').dataset.camera") == "gate-south"
        await page.evaluate("(() => { const s = document.getElementById('layout'); s.value = '4';"
                            " s.dispatchEvent(new Event('change')); })()")
        await page.wait_for(DECODING, within_s=15)

        # Language: Indonesian relabels the navigation, the tiles and the controls; the choice is kept.
        async def switch(lang: str) -> None:
            await page.evaluate(f"(() => {{ const s = document.getElementById('lang'); s.value = '{lang}';"
                                " s.dispatchEvent(new Event('change')); })()")

        await switch("id")
        labels = await page.evaluate(
            "({nav: document.querySelector('nav a[href$=\"tour.html\"]').textContent,"
            " badge: document.querySelector('.tile .badge').textContent,"
            " out: document.getElementById('signout').textContent, lang: document.documentElement.lang,"
            " saved: localStorage.getItem('pantau.lang'), summary: document.getElementById('summary').textContent})"
        )
        assert labels == {"nav": "Patroli CCTV", "badge": "Aktif", "out": "Keluar", "lang": "id", "saved": "id",
                          "summary": "2 dari 2 kamera aktif"}
        await page.screenshot(ARTIFACTS / "wall-indonesian.png")
        await switch("en")
        assert await page.evaluate("document.querySelector('nav a[href$=\"tour.html\"]').textContent") == "Camera tour"

        # A hidden tab closes every peer and says so; visible again, the tiles play again.
        await page.evaluate("(() => { Object.defineProperty(document, 'visibilityState', {configurable: true,"
                            " get: () => 'hidden'}); document.dispatchEvent(new Event('visibilitychange')); })()")
        await page.wait_for("[...document.querySelectorAll('.tile[data-camera]')].every(t => t.pc === null"
                            " && t.querySelector('.status').textContent === 'Paused while not on screen')", within_s=5)
        await page.evaluate("(() => { delete document.visibilityState;"
                            " document.dispatchEvent(new Event('visibilitychange')); })()")
        await page.wait_for(DECODING, within_s=15)

        # Camera alarms from the event stream mark the tile while active.
        events = client.gateway.services.events  # type: ignore[union-attr]
        assert events is not None
        topic = "tns1:VideoSource/GlobalSceneChange/ImagingService"
        events.publish(CameraEvent("gate-north", EventKind.TAMPER, True, datetime.now(UTC), topic))
        await page.wait_for("document.querySelector('#cam-gate-north .alarm')?.textContent === 'TAMPER'")
        events.publish(CameraEvent("gate-north", EventKind.TAMPER, False, datetime.now(UTC), topic))
        await page.wait_for("!document.querySelector('#cam-gate-north .alarm')")

        # The cameras go down: each tile shows the reconnect with its next retry time, then plays again.
        server.stop()
        # (Between retries the camera is offline with its next retry time; during one, connecting.)
        # The tile is red with the reason in its middle, and the line under it says when it tries next.
        await page.wait_for("[...document.querySelectorAll('.tile[data-camera]')].every(t =>"
                            " t.dataset.state === 'reconnecting' && t.pc === null && t.classList.contains('down'))"
                            " && /^Next try at \\d\\d:\\d\\d:\\d\\d \\(in \\d+ s\\)$/.test("
                            "document.querySelector('#cam-gate-north .status').textContent)"
                            " && !!document.querySelector('#cam-gate-north .down-reason').textContent",
                            within_s=15)
        await page.screenshot(ARTIFACTS / "wall-reconnecting.png")
        server.start()
        await page.wait_for(DECODING, within_s=25)

        # The tour: a 3 s dwell moves to the other camera by itself; Next moves at once; Pause holds.
        await page.goto(client.url("/static/tour.html"))
        await page.wait_for("!!document.getElementById('stage').dataset.camera")
        await page.evaluate("(() => { const d = document.getElementById('dwell'); d.value = '3';"
                            " d.dispatchEvent(new Event('change')); })()")
        current_frames = (f"(async () => (await {TILE_STATS})['cam-' + "
                          "document.getElementById('stage').dataset.camera]?.frames > 0)()")
        await page.wait_for(current_frames, within_s=15)
        # The next camera already plays behind the current one (hidden from assistive technology).
        assert await page.evaluate("[...document.querySelectorAll('#stage .tile')].map(t => t.inert)") == [False, True]
        shown = await page.evaluate("document.getElementById('stage').dataset.camera")
        await page.wait_for(f"(async () => (await {TILE_STATS})[document.querySelector('#stage .tile.preload').id]"
                            ".frames > 0)()", within_s=15)
        await page.wait_for(f"document.getElementById('stage').dataset.camera !== {json.dumps(shown)}", within_s=8)
        await page.wait_for(current_frames, within_s=0.5)  # the picture is there at once
        await page.screenshot(ARTIFACTS / "tour.png")
        now = await page.evaluate("document.getElementById('stage').dataset.camera")
        await page.evaluate("document.getElementById('tour-pause').click()")
        await page.evaluate("document.getElementById('tour-next').click()")
        assert await page.evaluate("document.getElementById('stage').dataset.camera") != now
        assert await page.evaluate("document.getElementById('countdown').textContent") == "Tour paused"

        # The shift's camera check lists every camera with its state and stream figures.
        await page.goto(client.url("/static/checks.html"))
        await page.wait_for("document.querySelectorAll('#checks-body tr').length === 2"
                            " && document.getElementById('checks-summary').textContent === '2 of 2 cameras online'")
        figures = await page.evaluate("document.querySelector('#checks-body tr[data-camera=gate-north] td.note').textContent")
        assert re.match(r"640×360 h264, \d+\.\d fps, \d+\.\d\d Mbit/s; last packet", figures), figures
        await page.evaluate("document.querySelector('#checks-body input[type=checkbox]').click()")
        await page.screenshot(ARTIFACTS / "camera-check.png")

        # A viewer's menu holds the live pages only, and an operator's page says it is not theirs.
        await client.gateway.services.users.add("watcher", "viewer", PASSWORD)  # type: ignore[union-attr]
        await sign_out(page)
        await sign_in(page, "watcher", PASSWORD)
        assert await page.evaluate("[...document.querySelectorAll('nav a')].map(a => a.textContent)") == [
            "Video wall", "Camera tour"]
        await page.goto(client.url("/static/recordings.html"))
        await page.wait_for("document.querySelector('#page [role=alert]')?.textContent"
                            " === 'Your role may not open this page.'")
        assert page.errors == [], page.errors


async def test_request_approval_and_external_viewer(
    tmp_path: Path, camera_server: Callable[..., CameraServer]
) -> None:
    """SOP step 9 in the browser: an operator files, a supervisor approves, the outside party watches."""
    need_chromium()
    server = camera_server({"north": "ball"})
    cams = [CameraConfig(id="gate-north", name="North gate", source=server.url("north"))]
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cams,
                             recording={"segment_s": 2})
    letter = tmp_path / "letter.png"
    letter.write_bytes(PNG)
    async with running_gateway(settings) as client, chromium() as page:
        users = client.gateway.services.users  # type: ignore[union-attr]
        await users.add("ops", "operator", PASSWORD)
        await users.add("sup", "supervisor", PASSWORD)
        started = datetime.now(UTC)

        # A browser set to Indonesian gets Indonesian until the user picks another language.
        await page.send("Page.enable")
        await page.send("Page.addScriptToEvaluateOnNewDocument", source=(
            "Object.defineProperty(navigator, 'languages', {get: () => ['id-ID', 'id', 'en']});"
            "Object.defineProperty(navigator, 'language', {get: () => 'id-ID'});"))

        # The external page without a token: a clear refusal, nothing to play.
        await page.goto(client.url("/static/view.html"))
        await page.wait_for("!document.getElementById('refusal').hidden")
        text = await page.evaluate("document.getElementById('refusal-text').textContent")
        assert text.startswith("Halaman ini memerlukan tautan berisi token disposisi"), text
        assert await page.evaluate("document.documentElement.lang") == "id"
        await page.screenshot(ARTIFACTS / "view-no-token-id.png")
        await page.evaluate("(() => { const s = document.getElementById('lang'); s.value = 'en';"
                            " s.dispatchEvent(new Event('change')); })()")
        text = await page.evaluate("document.getElementById('refusal-text').textContent")
        assert "disposition token" in text
        assert await page.evaluate("document.querySelectorAll('.player').length") == 0

        # An operator files the request through the form, with the letter chosen as a user would.
        await page.goto(client.url("/static/requests.html"))
        await page.wait_for("!!document.getElementById('signin')")
        await page.screenshot(ARTIFACTS / "signin.png")
        await sign_in(page, "ops", PASSWORD)
        assert await page.evaluate("[...document.querySelectorAll('nav a')].map(a => a.textContent)") == [
            "Video wall", "Cases", "Shift", "Camera tour", "Camera check", "Recordings", "Playback requests"]
        await page.wait_for("document.querySelectorAll('#req-cameras input').length === 1")
        window_start = started - timedelta(seconds=5)
        window_end = await sealed_until(client, "gate-north", window_start, segments=2)
        fields = {"party_name": "Budi Santoso", "party_organisation": "Polres Kota",
                  "purpose": "Theft at the north gate", "letter_number": "B/77/III/2026"}
        await page.set_files("#req-form input[name=letter]", letter)
        await page.evaluate(
            "(() => { const f = document.getElementById('req-form');"
            f" for (const [k, v] of Object.entries({json.dumps(fields)})) f[k].value = v;"
            " f.querySelector('#req-cameras input').checked = true;"
            " f.want_copies.click(); f.copies.value = '2';"  # a copy too, besides the replay
            " const local = (iso) => { const d = new Date(iso); const p = n => String(n).padStart(2, '0');"
            "   return `${d.getFullYear()}-${p(d.getMonth()+1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`; };"
            f" f.start.value = local({json.dumps(window_start.isoformat())});"
            f" f.end.value = local({json.dumps(window_end.isoformat())});"
            " f.requestSubmit(); })()"
        )
        await page.wait_for("document.getElementById('req-result').className === 'ok'"
                            " && document.querySelectorAll('#req-table tbody tr').length === 1")
        await page.screenshot(ARTIFACTS / "requests.png")

        # The same operator's timeline of today shows sealed segments; gaps are drawn differently.
        await page.goto(client.url("/static/recordings.html"))
        await page.wait_for("document.querySelectorAll('.timeline .seg').length > 0")
        await page.evaluate("(() => { const z = document.querySelector('.timeline-wrap select'); z.value = '10';"
                            " z.dispatchEvent(new Event('change')); })()")
        width = await page.evaluate("document.querySelector('.timeline .seg').getBoundingClientRect().width")
        assert width > 5, width  # a few seconds of a 10-minute view (a whole day draws them 2 px wide)
        await page.screenshot(ARTIFACTS / "recordings-timeline.png")
        # The summary is written once the marks have loaded too (after the timeline is drawn).
        await page.wait_for("/^\\d+ sealed segments/.test(document.getElementById('rec-summary').textContent)")
        looks = await page.evaluate("""(async () => {
          const { Timeline } = await import('/static/js/timeline.js');
          const line = new Timeline({ onPick: () => {} });
          document.getElementById('page').append(line.element);
          // Yesterday: today's 00:00-00:36 would still lie in the future just after midnight.
          const day = new Date(); day.setHours(0, 0, 0, 0); day.setDate(day.getDate() - 1);
          const at = (h) => new Date(day.getTime() + h * 3600e3).toISOString();
          line.show(day, new Date(day.getTime() + 864e5),
                    { segments: [{ start: at(0), end: at(0.5) }], gaps: [{ start: at(0.5), end: at(0.6), reason: 'x' }] });
          const seg = getComputedStyle(line.element.querySelector('.seg')).backgroundImage + getComputedStyle(line.element.querySelector('.seg')).backgroundColor;
          const gap = getComputedStyle(line.element.querySelector('.gap')).backgroundImage + getComputedStyle(line.element.querySelector('.gap')).backgroundColor;
          line.element.remove();
          return { seg, gap };
        })()""")
        assert looks["seg"] != looks["gap"], looks
        # Internal replay with the operator's own session: frames decode, Pause holds the position.
        await page.evaluate("document.getElementById('rec-play').click()")
        await page.wait_for(f"(async () => (await {PLAYER_FRAMES}) > 0)()", within_s=20)
        await page.evaluate("document.querySelector('.player').scrollIntoView()")
        await page.screenshot(ARTIFACTS / "recordings-replay.png")
        # The control channel: Pause holds the position the server reports; the bar seeks.
        player = "document.querySelector('.player').player"
        await page.wait_for(f"{player}.channel?.readyState === 'open'")
        await page.evaluate(f"window.firstPeer = {player}.element.pc")
        await page.wait_for(f"Date.parse({player}.reported?.at) >= {player}.from.getTime() + 2500", within_s=10)
        await page.evaluate("document.querySelector('.player button.primary').click()")
        await page.wait_for(f"{player}.reported?.paused === true && document.querySelector('.player button.primary')"
                            ".textContent === 'Resume'")
        held = await page.evaluate(f"{player}.at.getTime()")
        await asyncio.sleep(1.2)  # the server reports about once a second
        assert await page.evaluate(f"{player}.at.getTime()") == held
        target = await page.evaluate(f"""(() => {{ const p = {player}; const bar = p.seekBar;
          bar.value = String(Math.ceil((p.from - p.start) / 1000));
          bar.dispatchEvent(new Event('change'));
          return p.start.getTime() + Number(bar.value) * 1000; }})()""")
        # The server's word: back near the start, well before where it was held.
        await page.wait_for(f"Math.abs(Date.parse({player}.reported.at) - {target}) < 1000")
        assert await page.evaluate(f"Date.parse({player}.reported.at)") < held - 1500
        assert await page.evaluate(f"{player}.element.pc === window.firstPeer")  # seeked in the same session
        await sign_out(page)

        # A second request, filed over the API, is the one the supervisor refuses.
        ops = await client.sign_in("ops", PASSWORD)
        second = aiohttp.FormData(default_to_multipart=True)
        for key, value in {**fields, "party_name": "Someone Else", "letter_date": "2026-03-09", "cameras": "gate-north",
                           "start": window_start.isoformat(), "end": window_end.isoformat()}.items():
            second.add_field(key, value)
        second.add_field("letter", io.BytesIO(PNG), filename="letter.png", content_type="image/png")
        async with client.http.post(client.url("/api/v1/playback-requests"), data=second,
                                    headers={"Authorization": f"Bearer {ops}"}) as resp:
            assert resp.status == 201, await resp.text()

        # A supervisor refuses one (a note is required), reads the other's letter, approves it and
        # sees the viewer link once.
        await page.goto(client.url("/static/approvals.html"))
        await sign_in(page, "sup", PASSWORD)
        await page.wait_for("document.querySelectorAll('#pending article').length === 2")
        await page.screenshot(ARTIFACTS / "approvals-pending.png")
        other = "[...document.querySelectorAll('#pending article')].find(a => a.textContent.includes('Someone Else'))"
        await page.evaluate(f"{other}.querySelector('button.danger').click()")
        assert await page.evaluate(f"{other}.querySelector('[role=status]').textContent") == (
            "A refusal needs a note saying why.")
        await page.evaluate(f"(() => {{ const a = {other}; a.querySelector('textarea').value = 'No case number';"
                            " a.querySelector('button.danger').click(); })()")
        await page.wait_for("document.querySelectorAll('#pending article').length === 1"
                            " && document.querySelector('#recent').textContent.includes('No case number')")
        await page.evaluate("document.querySelector('#pending article button').click()")
        await page.wait_for("document.getElementById('letter-dialog').open && !!document.querySelector('#letter-body img')")
        await page.evaluate("document.getElementById('letter-close').click()")
        # The copy asked for is shown apart, and approved with its own tick.
        assert "A copy is asked for: 2 downloads" in await page.evaluate(
            "document.querySelector('#pending article .copy-asked').textContent")
        await page.evaluate("document.querySelector('#pending article input.approve-copy').click()")
        await page.evaluate("document.querySelector('#pending article button.primary').click()")
        link = await page.wait_for("document.getElementById('issued-link')?.value")
        assert "0 of 2 copies used" in await page.evaluate("document.getElementById('issued').textContent")
        row = await page.wait_for("[...document.querySelectorAll('#recent tbody tr')]"
                                  ".map(r => r.textContent).find(t => t.includes('Budi Santoso'))")
        assert "Views used per camera: gate-north 0/" in row and "0 of 2 copies used" in row, row
        await page.screenshot(ARTIFACTS / "approvals-issued.png")
        assert link.startswith(client.url("/static/view.html#token="))
        token = link.split("#token=", 1)[1]
        await sign_out(page)

        # A forged token (signature of another token) is refused by the gateway, with its reason.
        head, body, _sig = token.split(".")
        forged = f"{head}.{body}.{'A' * 86}"
        await page.goto(client.url(f"/static/view.html#token={forged}"))
        await page.wait_for("document.querySelectorAll('.player').length === 1")
        assert "#token" not in await page.evaluate("location.href")  # off the address bar
        await page.evaluate("document.querySelector('.player button.primary').click()")
        await page.wait_for("!document.getElementById('refusal').hidden")
        assert "signature" in await page.evaluate("document.getElementById('refusal-text').textContent")
        await page.screenshot(ARTIFACTS / "view-refused.png")

        # The real token plays the approved window.
        await page.goto(client.url(f"/static/view.html#token={token}"))
        await page.wait_for("document.querySelectorAll('.player').length === 1")
        assert "Budi Santoso" in await page.evaluate("document.getElementById('details').textContent")
        await page.evaluate("document.querySelector('.player button.primary').click()")
        try:
            await page.wait_for(f"(async () => (await {PLAYER_FRAMES}) > 0)()", within_s=20)
        finally:
            await page.evaluate("document.querySelector('.player').scrollIntoView()")
            await page.screenshot(ARTIFACTS / "view-playing.png")
        state = await page.evaluate("({message: document.querySelector('.player .message').textContent,"
                                    " peer: document.querySelector('.player').pc?.connectionState})")
        assert state["peer"] == "connected", state
        # The policy asks for the grantee's watermark; passthrough video cannot carry it, the page draws it.
        mark = await page.wait_for("(() => { const m = document.querySelector('.player .watermark');"
                                   " return !m.hidden && m.textContent; })()", within_s=5)
        assert "Budi Santoso" in mark, mark
        # A token holder may not play faster than the disposition allows: the gateway's refusal is shown.
        await page.evaluate("(() => { const s = document.querySelector('.player select'); s.value = '2';"
                            " s.dispatchEvent(new Event('change')); })()")
        refusal = await page.wait_for("(() => { const m = document.querySelector('.player .message');"
                                      " return m.classList.contains('error') && m.textContent; })()", within_s=5)
        assert "rate must be" in refusal, refusal
        assert page.errors == [], page.errors



async def test_wall_ptz_presets_home_and_held_moves(
    tmp_path: Path, onvif_device: Callable[..., OnvifDevice]
) -> None:
    """An operator moves an ONVIF PTZ camera from its wall tile; a viewer is offered no controls."""
    need_chromium()
    device = onvif_device()
    cams = [CameraConfig(id="dome", name="Dome", source=device.source(), record=False)]
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cams)
    async with running_gateway(settings) as client, chromium() as page:
        users = client.gateway.services.users  # type: ignore[union-attr]
        await users.add("ops", "operator", PASSWORD)
        await users.add("watcher", "viewer", PASSWORD)
        admin = await client.sign_in("admin", client.admin_password())
        ops = await client.sign_in("ops", PASSWORD)
        base = "/api/v1/cameras/dome/ptz"

        async def position() -> tuple[float, float]:
            async with client.http.get(client.url(base), headers={"Authorization": f"Bearer {ops}"}) as resp:
                assert resp.status == 200, await resp.text()
                status = (await resp.json())["status"]
                return status["pan"], status["tilt"]

        async def post(path: str, body: object = None) -> None:
            async with client.http.post(client.url(path), json=body, headers={"Authorization": f"Bearer {ops}"}) as resp:
                assert resp.status in (200, 201, 204), await resp.text()

        await page.goto(client.url("/"))
        await page.evaluate("localStorage.clear(); localStorage.setItem('pantau.wall.layout', '1')")
        await sign_in(page, "ops", PASSWORD)
        tile = "document.getElementById('cam-dome')"
        await page.wait_for(f"{tile}?.querySelector('.ptz-toggle').hidden === false", within_s=15)
        await page.evaluate(f"{tile}.querySelector('.ptz-toggle').click()")
        await page.wait_for(f"!{tile}.querySelector('.ptz-panel').hidden"
                            f" && !!{tile}.querySelector('.ptz-position').textContent", within_s=10)

        # Point the camera somewhere over the API, then save that position with the panel's form.
        await post(f"{base}/move", {"mode": "absolute", "pan": 0.5, "tilt": -0.25, "zoom": 0.3})
        await page.evaluate(f"(() => {{ const f = {tile}.querySelector('.ptz-save');"
                            " f.querySelector('input').value = 'North gate'; f.requestSubmit(); })()")
        await page.wait_for(f"[...{tile}.querySelectorAll('.ptz-preset-name')].some(n => n.textContent === 'North gate')")
        await post(f"{base}/home")
        assert await position() == (0.0, 0.0)

        # "Go to" moves the camera back to the preset.
        await page.evaluate(f"[...{tile}.querySelectorAll('.ptz-presets li')].find(li =>"
                            " li.textContent.includes('North gate')).querySelector('.ptz-goto').click()")
        deadline = time.monotonic() + 5
        while await position() != (0.5, -0.25):
            assert time.monotonic() < deadline, await position()
            await asyncio.sleep(0.1)

        # Holding "pan left" moves the camera; letting go stops it.
        box = await page.evaluate(f"(() => {{ const b = {tile}.querySelector('.ptz-left'); b.scrollIntoView();"
                                  " const r = b.getBoundingClientRect(); return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()")
        await page.send("Input.dispatchMouseEvent", type="mouseMoved", x=box["x"], y=box["y"])
        await page.send("Input.dispatchMouseEvent", type="mousePressed", x=box["x"], y=box["y"], button="left",
                        clickCount=1)
        await page.wait_for(f"{tile}.querySelector('.ptz-left').classList.contains('held')", within_s=2)
        await asyncio.sleep(0.8)
        await page.screenshot(ARTIFACTS / "wall-ptz.png")
        await page.send("Input.dispatchMouseEvent", type="mouseReleased", x=box["x"], y=box["y"], button="left",
                        clickCount=1)
        await page.wait_for(f"!{tile}.querySelector('.ptz-left').classList.contains('held')", within_s=2)
        await asyncio.sleep(0.5)  # the stop goes out after the move it follows
        stopped = await position()
        assert stopped[0] < 0.5 and stopped[1] == -0.25, stopped
        await asyncio.sleep(1.0)
        assert await position() == stopped  # it stays put
        # The keyboard: Space held on the focused "pan right" button moves, letting go stops.
        await page.evaluate(f"{tile}.querySelector('.ptz-right').focus()")
        await page.send("Input.dispatchKeyEvent", type="keyDown", key=" ", code="Space", windowsVirtualKeyCode=32)
        await page.wait_for(f"{tile}.querySelector('.ptz-right').classList.contains('held')", within_s=2)
        await asyncio.sleep(0.5)
        await page.send("Input.dispatchKeyEvent", type="keyUp", key=" ", code="Space", windowsVirtualKeyCode=32)
        await page.wait_for(f"!{tile}.querySelector('.ptz-right').classList.contains('held')", within_s=2)
        await asyncio.sleep(0.5)
        keyed = await position()
        assert keyed[0] > stopped[0], (keyed, stopped)
        await asyncio.sleep(0.5)
        assert await position() == keyed
        assert await page.evaluate(f"{tile}.querySelector('.ptz-message').textContent") == ""  # no failure shown

        # Every command in the access log, by the operator who gave it.
        log = await client.get_json("/api/v1/access-log?action=ptz&limit=1000", admin)
        done = {(e["payload"]["actor"], e["payload"]["details"]["command"], e["payload"]["outcome"])
                for e in log["entries"]}
        assert {("ops", c, "ok") for c in ("set_preset", "goto_preset", "move", "stop")} <= done, done

        # A viewer may watch the camera but is offered no PTZ controls: the camera list says it
        # may not move it, so its page never asks the camera (and no refusal clutters the log).
        watcher = await client.sign_in("watcher", PASSWORD)
        listed = await client.get_json("/api/v1/cameras", watcher)
        assert [c["ptz"] for c in listed["cameras"]] == [False]
        assert [c["ptz"] for c in (await client.get_json("/api/v1/cameras", ops))["cameras"]] == [True]
        await sign_out(page)
        await sign_in(page, "watcher", PASSWORD)
        await page.wait_for(f"!!{tile}")
        await asyncio.sleep(1.0)
        assert await page.evaluate(f"!{tile}.querySelector('.ptz-toggle') && !{tile}.querySelector('.ptz-panel')")
        denied = await client.get_json("/api/v1/access-log?action=decision&limit=1000", admin)
        refused = [e["payload"] for e in denied["entries"]
                   if e["payload"]["actor"] == "watcher" and e["payload"]["outcome"] == "deny"]
        assert not refused, [(e["details"], e["reason"], e["outcome"]) for e in refused]
        assert page.errors == [], page.errors
