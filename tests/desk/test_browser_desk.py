"""The shift desk's pages in headless Chromium against a running gateway with two real RTSP cameras.

The story of one shift change, as the SOP tells it: operator A signs on, checks the cameras and the
room's equipment (step 3), patrols the cameras on the tour (step 4) and files the handover (step 10);
operator B signs on and countersigns it with objections (step 2). Each step is read back over the API
as the other side of the page's claim. The wall says who is on duty.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from core.config import CameraConfig
from tests.browser import Page, chromium
from tests.fixtures_camera import CameraServer
from tests.gatewayutil import Client, make_settings, running_gateway
from tests.test_browser_wall import ARTIFACTS, PASSWORD, TILE_STATS, need_chromium, sign_in, sign_out

pytestmark = pytest.mark.slow

EQUIPMENT = [
    {"id": "db", "name": "Database", "kind": "server", "probe": {"database": True}},
    {"id": "phone", "name": "Complaint line telephone", "kind": "telephone"},
    {"id": "ups", "name": "UPS", "kind": "ups"},
]

# PatrolRecorder's rules with a hand-turned clock, in the page itself (no Node.js here): what failed.
PATROL_LOGIC = r"""(async () => {
  const bad = [];
  const check = (name, ok) => { if (!ok) bad.push(name); };
  const { PatrolRecorder } = await import('/static/js/patrol.js');
  let ms = 0;
  const r = new PatrolRecorder({ now: () => ms, wall: () => new Date(Date.UTC(2026, 2, 9, 7, 0, ms / 1000)) });
  r.start('gates', ['a', 'b', 'c'], true);
  r.show('a'); ms += 4000;                 // a in front 4 s
  r.setVisible(false); ms += 60000;        // the tab hidden a minute: counts for nobody
  r.setVisible(true); ms += 1000;          // a 1 s more
  r.acknowledge();
  r.show('b'); ms += 300; r.skip();        // b glimpsed, skipped
  r.show('a'); ms += 500;
  r.report('a', 'pagar terbuka');
  const body = r.body(['a', 'b', 'c', 'd']);
  const by = Object.fromEntries(body.cameras.map((c) => [c.camera, c]));
  check('order', body.cameras.map((c) => c.camera).join() === 'a,b,c,d');
  check('a shown', by.a.shown_s === 5.5 && by.a.acknowledged && !by.a.skipped && by.a.report === 'pagar terbuka');
  check('b skipped', by.b.skipped && !by.b.acknowledged && by.b.shown_s === 0.3);
  check('c never in front', by.c.skipped && by.c.shown_s === 0);
  check('d joined late', by.d.skipped && by.d.shown_s === 0);
  check('group and times', body.group === 'gates' && body.started_at < body.ended_at);
  ms += 500;
  check('still running', r.body().cameras.find((c) => c.camera === 'a').shown_s === 6);
  r.stop(); ms += 5000;
  check('stopped', r.shownSeconds('a') === 6 && !r.active);
  // Shown under a second but acknowledged is no skip; a skip taken back by an acknowledgement neither.
  const q = new PatrolRecorder({ now: () => ms, wall: () => new Date() });
  q.start('', ['x'], true); q.show('x'); ms += 200; q.skip(); q.acknowledge();
  const x = q.body().cameras[0];
  check('ack beats short', x.acknowledged && !x.skipped);
  await (await import('/static/js/i18n.js')).ready;
  const { dutyText } = await import('/static/js/duty.js');
  check('duty text', dutyText([{operator: 'sari', slot: 'Pagi'}, {operator: 'budi', slot: null}]) === 'On duty: sari (Pagi), budi');
  check('nobody', dutyText([]) === '');
  const { hms } = await import('/static/js/timefmt.js');
  check('hms', hms(59.6) === '1:00' && hms(3725) === '1:02:05' && hms(null) === '0:00');
  return bad;
})()"""


async def post(client: Client, path: str, token: str, body: object, status: int = 201) -> Any:
    async with client.http.post(client.url(path), json=body, headers={"Authorization": f"Bearer {token}"}) as resp:
        got = await resp.json(content_type=None)
        assert resp.status == status, (resp.status, got)
        return got


async def key(page: Page, name: str, code: str, vk: int) -> None:
    """A key pressed and let go, as the keyboard sends it (not a synthetic DOM event)."""
    await page.send("Input.dispatchKeyEvent", type="keyDown", key=name, code=code, windowsVirtualKeyCode=vk,
                    text=name if len(name) == 1 else "")
    await page.send("Input.dispatchKeyEvent", type="keyUp", key=name, code=code, windowsVirtualKeyCode=vk)


async def fetch_pdf(page: Page, selector: str) -> dict[str, Any]:
    """Fetch what a PDF link points at with the page's session: its type, first bytes and SHA-256."""
    return await page.evaluate(f"""(async () => {{
      const a = document.querySelector({json.dumps(selector)});
      const token = JSON.parse(sessionStorage.getItem('pantau.session')).token;
      const res = await fetch(a.href, {{ headers: {{ Authorization: `Bearer ${{token}}` }} }});
      const bytes = await res.arrayBuffer();
      const head = new TextDecoder().decode(bytes.slice(0, 5));
      const sha256 = [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))]
        .map((b) => b.toString(16).padStart(2, '0')).join('');
      return {{ status: res.status, type: res.headers.get('content-type'), head, sha256, href: a.getAttribute('href') }};
    }})()""")


@pytest.mark.timeout(300)
async def test_shift_change_in_the_browser(tmp_path: Path, camera_server: Callable[..., CameraServer]) -> None:
    need_chromium()
    server = camera_server({"one": "ball", "two": "snow"})
    cams = [CameraConfig(id="cam-1", name="North gate", source=server.url("one"), record=False),
            CameraConfig(id="cam-2", name="Yard", source=server.url("two"), record=False)]
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cams,
                             desk={"equipment": EQUIPMENT})
    async with running_gateway(settings) as client, chromium(1400, 1000) as page:
        users = client.gateway.services.users  # type: ignore[union-attr]
        await users.add("sari", "operator", PASSWORD)
        await users.add("budi", "operator", PASSWORD)
        sari = await client.sign_in("sari", PASSWORD)
        budi = await client.sign_in("budi", PASSWORD)

        # A check saved before signing on is refused (409): the page says so and shows the way.
        await page.goto(client.url("/static/checks.html"))
        await page.evaluate("localStorage.clear(); localStorage.setItem('pantau.lang', 'en')")
        await sign_in(page, "sari", PASSWORD)
        assert "Shift" in await page.evaluate("[...document.querySelectorAll('nav a')].map(a => a.textContent)")
        await page.wait_for("document.querySelectorAll('#checks-body tr').length === 2")
        await page.evaluate("document.getElementById('check-save').click()")
        refusal = await page.wait_for("document.querySelector('#check-error[role=alert] .error')?.textContent")
        assert refusal.startswith("Sign on to a shift first."), refusal
        assert await client.get_json("/api/v1/checks", sari) == {"checks": []}

        # Step 1: A follows the link to the shift page and signs on.
        await page.evaluate("document.querySelector('#check-error a.to-shift').click()")
        # (Polled while the page changes: the new document may not have its body yet.)
        await page.wait_for("location.pathname === '/static/shift.html' && document.body?.dataset.shift === 'none'"
                            " && document.getElementById('sign-on')?.hidden === false")
        await page.evaluate("document.getElementById('sign-on').click()")
        await page.wait_for("document.body.dataset.shift === 'open'"
                            " && !document.getElementById('draft-section').hidden"
                            " && !!document.querySelector('#draft .handover')")
        mine = (await client.get_json("/api/v1/shifts/current", sari))["mine"]
        assert mine is not None and mine["operator"] == "sari" and mine["open"], mine
        assert "sari" in await page.evaluate("document.getElementById('on-duty').textContent")

        # Step 3: the check. Camera 1 fine, camera 2 with a problem and a remark, the telephone fine.
        await page.goto(client.url("/static/checks.html"))
        row = "document.querySelector('#checks-body tr[data-camera=\"{}\"]')"
        await page.wait_for(f"{row.format('cam-1')}?.querySelector('.badge.state-online')"
                            f" && {row.format('cam-2')}?.querySelector('.badge.state-online')"
                            " && document.querySelectorAll('#equipment-body tr').length === 3", within_s=30)
        # The gateway probed its own database just now; the telephone has no automatic check.
        assert await page.evaluate("document.querySelector('#equipment-body tr[data-equipment=\"db\"] .probe')"
                                   ".dataset.ok") == "true"
        await page.evaluate(f"""(() => {{
          {row.format('cam-1')}.querySelector('.tick').click();
          const two = {row.format('cam-2')};
          two.querySelector('.problem').click();
          const remark = two.querySelector('.remark');
          remark.value = 'lensa berembun'; remark.dispatchEvent(new Event('input'));
          document.querySelector('#equipment-body tr[data-equipment="phone"] .tick').click();
          document.getElementById('check-notes').value = 'Semua kamera dicek dari ruang kendali.';
        }})()""")
        assert await page.evaluate(f"{row.format('cam-2')}.querySelector('.tick').checked"), "a problem ticks 'checked'"
        assert await page.evaluate(f"{row.format('cam-2')}.querySelector('.remark').maxLength") == 1000
        await page.evaluate("document.getElementById('check-save').click()")
        await page.wait_for("!!document.querySelector('#check-result .stored')")
        await page.screenshot(ARTIFACTS / "desk-check.png")
        checks = (await client.get_json("/api/v1/checks", sari))["checks"]
        assert len(checks) == 1
        check = checks[0]
        assert check["shift_id"] == mine["id"] and check["notes"] == "Semua kamera dicek dari ruang kendali."
        assert await page.evaluate("document.querySelector('#check-result .stored').dataset.sha256") == check["sha256"]
        by_cam = {c["camera"]: c for c in check["cameras"]}
        assert (by_cam["cam-1"]["checked"], by_cam["cam-1"]["ok"], by_cam["cam-1"]["remark"]) == (True, True, "")
        assert (by_cam["cam-2"]["checked"], by_cam["cam-2"]["ok"], by_cam["cam-2"]["remark"]) == (
            True, False, "lensa berembun")
        # What the server saw of the camera at that moment, not what the page said.
        assert by_cam["cam-2"]["state"] == "online" and by_cam["cam-2"]["stats"]["width"] == 640, by_cam["cam-2"]
        items = {e["id"]: e for e in check["equipment"]}
        assert (items["phone"]["checked"], items["phone"]["ok"]) == (True, True)
        assert (items["ups"]["checked"], items["ups"]["ok"]) == (False, None)
        assert items["db"]["probe"]["ok"] is True and items["db"]["checked"] is False, items["db"]
        pdf = await fetch_pdf(page, "#check-result a.pdf")
        assert pdf["href"].startswith(f"/api/v1/checks/{check['id']}/pdf?lang="), pdf
        assert (pdf["status"], pdf["type"], pdf["head"]) == (200, "application/pdf", "%PDF-"), pdf

        # Step 4: the patrol on the tour. Camera 1 in front ~3 s and acknowledged (key a); camera 2
        # played hidden behind it all that time (the preload), then was shown for a moment and
        # skipped (key s): its time in front stays under a second.
        await page.goto(client.url("/static/tour.html"))
        await page.wait_for("document.body.dataset.patrol === 'idle' && !!document.getElementById('stage').dataset.camera")
        await page.evaluate("(() => { const d = document.getElementById('dwell'); d.value = '600';"
                            " d.dispatchEvent(new Event('change')); })()")
        await page.evaluate("document.getElementById('patrol-start').click()")
        await page.wait_for("document.body.dataset.patrol === 'recording'"
                            " && document.getElementById('stage').dataset.camera === 'cam-1'")
        assert await page.evaluate("document.getElementById('tour-group').disabled")
        await page.wait_for(f"(async () => {{ const s = await {TILE_STATS};"
                            " return s['cam-cam-1']?.frames > 0 && s['cam-cam-2']?.frames > 0; })()", within_s=20)
        assert await page.evaluate("document.getElementById('cam-cam-2').classList.contains('preload')")
        await asyncio.sleep(3.0)
        # The tab hidden for 3 s (another window on top): camera 1 stays in front but earns nothing.
        await page.evaluate("(() => { Object.defineProperty(document, 'visibilityState', {configurable: true,"
                            " get: () => 'hidden'}); document.dispatchEvent(new Event('visibilitychange')); })()")
        await asyncio.sleep(3.0)
        await page.evaluate("(() => { delete document.visibilityState;"
                            " document.dispatchEvent(new Event('visibilitychange')); })()")
        await key(page, "a", "KeyA", 65)
        await page.wait_for("document.getElementById('patrol-ack').getAttribute('aria-pressed') === 'true'")
        await key(page, "ArrowRight", "ArrowRight", 39)
        await page.wait_for("document.getElementById('stage').dataset.camera === 'cam-2'", within_s=2)
        await key(page, "s", "KeyS", 83)
        await page.wait_for("document.getElementById('stage').dataset.camera === 'cam-1'", within_s=2)
        # A report on camera 1 through the small form.
        await page.evaluate("document.getElementById('patrol-report').click()")
        await page.wait_for("!document.getElementById('patrol-report-form').hidden"
                            " && document.activeElement.id === 'patrol-report-text'")
        await page.evaluate("(() => { document.getElementById('patrol-report-text').value = 'gerbang terbuka';"
                            " document.getElementById('patrol-report-form').requestSubmit(); })()")
        await page.screenshot(ARTIFACTS / "desk-patrol.png")
        await page.evaluate("document.getElementById('patrol-finish').click()")
        await page.wait_for("document.body.dataset.patrol === 'idle' && !!document.querySelector('#patrol-result .stored')")
        patrols = (await client.get_json("/api/v1/patrols", sari))["patrols"]
        assert len(patrols) == 1
        patrol = patrols[0]
        stops = {c["camera"]: c for c in patrol["cameras"]}
        assert set(stops) == {"cam-1", "cam-2"}
        one, two = stops["cam-1"], stops["cam-2"]
        assert one["acknowledged"] and not one["skipped"] and one["shown_s"] >= 2.0, one
        length_s = (datetime.fromisoformat(patrol["ended_at"]) - datetime.fromisoformat(patrol["started_at"])).total_seconds()
        assert one["shown_s"] <= length_s - 2.5, (one, length_s)  # the hidden 3 s did not count
        assert one["report"] == "gerbang terbuka" and one["state"] == "online", one
        assert two["skipped"] and not two["acknowledged"] and two["shown_s"] < 1.0, two
        assert await page.evaluate("document.querySelector('#patrol-result .stored').dataset.sha256") == patrol["sha256"]
        pdf = await fetch_pdf(page, "#patrol-result a.pdf")
        assert (pdf["status"], pdf["head"]) == (200, "%PDF-"), pdf

        # Step 10: A reads the pre-filled handover, adds a note and files it (after confirming).
        await page.goto(client.url("/static/shift.html"))
        await page.wait_for("document.body.dataset.shift === 'open' && !!document.querySelector('#draft .handover')")
        draft = await page.evaluate("document.getElementById('draft').textContent")
        assert "lensa berembun" in draft and "gerbang terbuka" in draft and "North gate" in draft, draft
        await page.wait_for("document.querySelectorAll('#checks-list tbody tr[data-check]').length === 1"
                            " && document.querySelectorAll('#patrols-list tbody tr[data-patrol]').length === 1")
        await page.evaluate("document.getElementById('handover-notes').value = 'Kamera 2 berembun, teknisi dipanggil.'")
        await page.evaluate("document.getElementById('file-handover').click()")
        await page.wait_for("document.getElementById('file-dialog').open")
        await page.screenshot(ARTIFACTS / "desk-file-confirm.png")
        await page.evaluate("document.getElementById('file-confirm').click()")
        await page.wait_for("!!document.querySelector('#filed article[data-handover]')"
                            " && document.body.dataset.shift === 'none'")
        filed = (await client.get_json("/api/v1/handovers?pending=true", sari))["handovers"]
        assert [h["operator"] for h in filed] == ["sari"]
        handover = filed[0]
        assert handover["content"]["notes"] == "Kamera 2 berembun, teknisi dipanggil."
        assert handover["sha256"] in await page.evaluate("document.getElementById('filed').textContent")
        # Nobody countersigns their own: A is offered nothing to accept.
        assert await page.evaluate("document.querySelectorAll('#pending [data-handover]').length") == 0
        await page.screenshot(ARTIFACTS / "desk-filed.png")
        assert (await client.get_json("/api/v1/shifts/current", sari))["mine"] is None

        # Step 2 of the next shift: B signs on and countersigns, with objections.
        await sign_out(page)
        await sign_in(page, "budi", PASSWORD)
        card = f"document.querySelector('#pending [data-handover=\"{handover['id']}\"]')"
        await page.wait_for(f"!!{card}")
        text = await page.evaluate(f"{card}.textContent")
        assert "Kamera 2 berembun, teknisi dipanggil." in text and "lensa berembun" in text, text
        await page.evaluate("document.getElementById('sign-on').click()")
        await page.wait_for("document.body.dataset.shift === 'open'")
        # Objections written but plain "Accept" pressed: the page asks which was meant, stores nothing.
        await page.evaluate(f"(() => {{ const t = {card}.querySelector('textarea');"
                            " t.value = 'Kamera 2 masih berembun saat diterima.'; t.dispatchEvent(new Event('input'));"
                            f" {card}.querySelector('button.accept').click(); }})()")
        await page.wait_for(f"!!{card}.querySelector('[role=alert] .error')")
        assert (await client.get_json(f"/api/v1/handovers/{handover['id']}", budi))["acceptance"] is None
        await page.screenshot(ARTIFACTS / "desk-accept.png")
        await page.evaluate(f"{card}.querySelector('button.accept-objections').click()")
        await page.wait_for("!!document.querySelector('#accepted .stored')")
        accepted = await client.get_json(f"/api/v1/handovers/{handover['id']}", budi)
        acceptance = accepted["acceptance"]
        assert acceptance["operator"] == "budi" and acceptance["objections"] == "Kamera 2 masih berembun saat diterima."
        assert await page.evaluate("document.querySelector('#accepted .stored').dataset.sha256") == acceptance["sha256"]
        await page.wait_for(f"!{card}")
        await page.wait_for(f"document.querySelector('#handovers-list tr[data-handover=\"{handover['id']}\"]')"
                            "?.textContent.includes('Accepted by budi')")
        # The accepted copy: the very PDF stored at acceptance, whose digest the access log holds.
        pdf = await fetch_pdf(page, "#accepted a.stored-pdf")
        assert (pdf["status"], pdf["head"], pdf["href"]) == (200, "%PDF-", f"/api/v1/handovers/{handover['id']}/pdf")
        assert pdf["sha256"] == acceptance["pdf_sha256"], pdf
        await page.screenshot(ARTIFACTS / "desk-accepted.png")
        # In Indonesian, the page relabels what it built.
        await page.evaluate("(() => { const s = document.getElementById('lang'); s.value = 'id';"
                            " s.dispatchEvent(new Event('change')); })()")
        words = await page.evaluate(f"""({{
          row: document.querySelector('#handovers-list tr[data-handover="{handover['id']}"]').textContent,
          status: document.getElementById('shift-status').textContent,
          accepted: document.querySelector('#accepted .stored').textContent,
          nav: document.querySelector('nav a[href$="shift.html"]').textContent }})""")
        assert "Diterima oleh budi" in words["row"] and "Keberatan" in words["row"], words
        assert words["status"].startswith("Anda bertugas sejak") and words["nav"] == "Dinas", words
        assert words["accepted"].startswith("Serah terima dari sari diterima"), words
        await page.evaluate("window.scrollTo(0, 0)")
        await page.screenshot(ARTIFACTS / "desk-shift-id.png")
        assert page.errors == [], page.errors


@pytest.mark.timeout(120)
async def test_wall_says_who_is_on_duty(tmp_path: Path) -> None:
    need_chromium()
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    async with running_gateway(settings) as client, chromium() as page:
        users = client.gateway.services.users  # type: ignore[union-attr]
        await users.add("sari", "operator", PASSWORD)
        await users.add("watcher", "viewer", PASSWORD)
        await page.goto(client.url("/"))
        await page.evaluate("localStorage.clear(); localStorage.setItem('pantau.lang', 'en')")
        assert await page.evaluate(PATROL_LOGIC) == [], "pure module checks failed"
        await sign_in(page, "watcher", PASSWORD)
        # A viewer: no shift page and no check in the menu; nobody on duty, nothing said.
        assert await page.evaluate("[...document.querySelectorAll('nav a')].map(a => a.textContent)") == [
            "Video wall", "Camera tour"]
        await page.wait_for("document.getElementById('on-duty').dataset.count === '0'")
        assert await page.evaluate("document.getElementById('on-duty').hidden")

        shift = await post(client, "/api/v1/shifts", await client.sign_in("sari", PASSWORD), {})
        await page.goto(client.url("/"))
        want = f"On duty: sari ({shift['slot']})" if shift["slot"] else "On duty: sari"
        await page.wait_for(f"document.getElementById('on-duty').textContent === {json.dumps(want)}"
                            " && !document.getElementById('on-duty').hidden")
        await page.evaluate("(() => { const s = document.getElementById('lang'); s.value = 'id';"
                            " s.dispatchEvent(new Event('change')); })()")
        assert (await page.evaluate("document.getElementById('on-duty').textContent")).startswith("Bertugas: sari")
        await page.screenshot(ARTIFACTS / "desk-wall-duty.png")
        # The tour offers a viewer no patrol controls.
        await page.goto(client.url("/static/tour.html"))
        await page.wait_for("!document.getElementById('page').hidden")
        assert await page.evaluate("document.getElementById('patrol-bar').hidden")
        assert page.errors == [], page.errors
