"""An enrolled wall display in Debian's headless Chromium against a running gateway and a real test
camera: the enrolment URL starts the wall without a sign-in form, the token leaves the address bar
for localStorage and survives a reload, and a revocation turns the screen into a message (in either
language) and stops the video and every retry. Then an administrator enrols and revokes a display
through the page built for it."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from core.config import CameraConfig
from tests.browser import Page, chromium
from tests.fixtures_camera import CameraServer
from tests.gatewayutil import Client, make_settings, running_gateway
from tests.test_browser_wall import ARTIFACTS, TILE_STATS, need_chromium, sign_in

log = logging.getLogger(__name__)

# The one tile decodes (a fresh peer counts from zero) and its video's clock runs: the stats, or false.
PLAYING = (f"(async () => {{ const s = (await {TILE_STATS})['cam-gate-north'];"
           " return !!s && s.frames > 0 && s.time > 0 && s; })()")
REVOKED_EN = "This display was revoked; ask an administrator to enrol it again"
REVOKED_ID = "Layar ini dicabut; minta administrator mendaftarkannya lagi"


async def api(client: Client, method: str, path: str, token: str, status: int, body: object = None) -> dict:  # type: ignore[type-arg]
    async with client.http.request(method, client.url(path), json=body,
                                   headers={"Authorization": f"Bearer {token}"}) as resp:
        answer = await resp.json(content_type=None)
        assert resp.status == status, (resp.status, answer)
        return answer  # type: ignore[no-any-return]


async def plays(page: Page) -> dict:  # type: ignore[type-arg]
    """The tile decodes and its picture advances."""
    first = await page.wait_for(PLAYING, within_s=25)
    await asyncio.sleep(1.5)
    later = await page.evaluate(TILE_STATS)
    assert later["cam-gate-north"]["frames"] > first["frames"] + 10
    assert later["cam-gate-north"]["time"] > first["time"] + 0.5
    return later["cam-gate-north"]  # type: ignore[no-any-return]


async def test_an_enrolled_display_runs_the_wall_until_revoked(
    tmp_path: Path, camera_server: Callable[..., CameraServer]
) -> None:
    need_chromium()
    server = camera_server({"north": "ball"})
    cams = [CameraConfig(id="gate-north", name="North gate", source=server.url("north"))]
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cams)
    async with running_gateway(settings) as client, chromium() as page:
        services = client.gateway.services
        assert services is not None
        admin = await client.sign_in("admin", client.admin_password())
        enrolled = await api(client, "POST", "/api/v1/displays", admin, 201, {"name": "Control room left"})
        token = enrolled["token"]

        # The enrolment URL: the wall plays at once, no sign-in form, the display's name in the header.
        await page.goto(client.url(enrolled["url"]))  # a fresh browser profile: nothing stored yet
        await plays(page)
        state = await page.evaluate(
            "({href: location.href, stored: localStorage.getItem('pantau.display'),"
            " signin: !!document.getElementById('signin'), signout: !!document.getElementById('signout'),"
            " who: document.getElementById('who').textContent, session: sessionStorage.getItem('pantau.session')})")
        assert state["href"] == client.url("/"), state["href"]  # the fragment is gone, token and all
        assert json.loads(state["stored"])["token"] == token
        assert json.loads(state["stored"])["name"] == "Control room left"
        assert not state["signin"] and not state["signout"] and state["session"] is None
        assert state["who"] == "Control room left · wall display"
        assert await page.evaluate("[...document.querySelectorAll('nav a')].map(a => a.textContent)") == [
            "Video wall", "Camera tour"]  # a viewer: the camera check is an operator's (it is stored)
        await page.screenshot(ARTIFACTS / "display-wall.png")

        # A reload (or a reboot opening the wall) plays again on the stored token.
        await page.goto(client.url("/"))
        await plays(page)
        assert not await page.evaluate("!!document.getElementById('signin')")
        starts = await api(client, "GET", "/api/v1/access-log?action=live_start&actor=display:Control room left",
                           admin, 200)
        assert len(starts["entries"]) >= 2

        # Revoked: within a poll or two the screen says so, and the video and every retry stop.
        await api(client, "POST", f"/api/v1/displays/{enrolled['id']}/revocation", admin, 201,
                  {"reason": "screen replaced"})
        revoked = time.monotonic()
        await page.wait_for("document.getElementById('revoked')?.textContent.includes("
                            f"{json.dumps(REVOKED_EN)}) && document.querySelectorAll('video').length === 0"
                            " && document.getElementById('page').hidden", within_s=10)
        log.warning("display revoked -> its wall shows the message: %.2f s", time.monotonic() - revoked)
        for _ in range(130):  # the gateway's side: the peer is gone by the next sign-in check
            if services.webrtc.viewers("gate-north") == 0:
                break
            await asyncio.sleep(0.05)
        assert services.webrtc.viewers("gate-north") == 0
        await page.screenshot(ARTIFACTS / "display-revoked.png")
        await page.evaluate("(() => { const s = document.getElementById('lang'); s.value = 'id';"
                            " s.dispatchEvent(new Event('change')); })()")
        assert (await page.evaluate("document.getElementById('revoked').textContent")).startswith(REVOKED_ID)
        tried = len((await api(client, "GET", "/api/v1/access-log?action=live_start", admin, 200))["entries"])
        await asyncio.sleep(6)  # longer than a tile's first retry and two polls
        assert len((await api(client, "GET", "/api/v1/access-log?action=live_start", admin, 200))["entries"]) == tried
        assert await page.evaluate("document.querySelectorAll('.tile').length") == 0
        # After a reload it is still the revoked display, not a sign-in form.
        await page.goto(client.url("/"))
        await page.wait_for(f"document.getElementById('revoked')?.textContent.startsWith({json.dumps(REVOKED_ID)})")
        assert not await page.evaluate("!!document.getElementById('signin')")

        # The browser becomes an ordinary one again; an administrator enrols and revokes on the page.
        await page.evaluate("(() => { const s = document.getElementById('lang'); s.value = 'en';"
                            " s.dispatchEvent(new Event('change')); })()")
        await page.evaluate("document.getElementById('forget-display').click()")
        await sign_in(page, "admin", client.admin_password())
        assert await page.evaluate("localStorage.getItem('pantau.display')") is None
        await page.goto(client.url("/static/displays.html"))
        await page.wait_for("document.querySelectorAll('#displays-table tbody tr').length === 1")
        assert await page.evaluate("document.querySelector('#displays-table tbody tr').dataset.state") == "revoked"
        await page.evaluate("(() => { const f = document.getElementById('enrol-form');"
                            " f.elements.name.value = 'Lobby'; f.requestSubmit(); })()")
        await page.wait_for("!document.getElementById('enrolled').hidden"
                            " && document.querySelectorAll('#displays-table tbody tr').length === 2")
        url = await page.evaluate("document.getElementById('enrolled-url').value")
        assert url.startswith(client.url("/#display=ptd_")), url
        assert await page.evaluate("document.getElementById('enrol-result').textContent") == "Display Lobby enrolled."
        await page.screenshot(ARTIFACTS / "displays-admin.png")
        await page.evaluate("document.getElementById('enrolled-done').click()")
        assert await page.evaluate("document.getElementById('enrolled-url').value") == ""
        lobby = "#displays-table tr[data-state=active]"
        await page.evaluate(f"document.querySelector('{lobby} button.revoke').click()")
        await page.wait_for("document.getElementById('displays-result').textContent === 'A revocation needs a reason.'")
        await page.evaluate(f"(() => {{ document.querySelector('{lobby} input[name=reason]').value = 'test only';"
                            f" document.querySelector('{lobby} button.revoke').click(); }})()")
        await page.wait_for("document.querySelectorAll('#displays-table tr[data-state=revoked]').length === 2")
        listed = await api(client, "GET", "/api/v1/displays", admin, 200)
        assert [(d["name"], d["revoke_reason"]) for d in listed["displays"]] == [
            ("Control room left", "screen replaced"), ("Lobby", "test only")]
        assert page.errors == [], page.errors
