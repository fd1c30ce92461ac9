"""A signed /get link in Debian's headless Chromium against a running gateway recording a real test
camera: the link plays in a `<video>` element of a page that sends no header and has no sign-in;
a one-time link is refused the second time, a 10 s link after 10 s, and the access log holds the
use (link_used), the export as the link's user, and both refusals."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import datetime
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from core.config import CameraConfig
from tests.browser import Page, chromium
from tests.fixtures_camera import CameraServer
from tests.gatewayutil import Client, call, make_settings, running_gateway, until
from tests.test_browser_wall import need_chromium, sign_in

PASSWORD = "password-123"
FAST = {"stall_timeout_s": 2.0, "read_timeout_s": 2.0, "open_timeout_s": 3.0}
EXPORT = {"operator": {"groups": ["*"], "max_age_h": 1}}


def video(page: Page, name: str, url: str) -> Any:
    """Add a muted autoplaying `<video id=name>` with `url` to the page."""
    return page.evaluate(
        f"(() => {{ const v = document.createElement('video'); v.id = {json.dumps(name)}; v.muted = true;"
        f" v.autoplay = true; v.src = {json.dumps(url)}; document.body.appendChild(v); return true; }})()")


def local_input(iso: str) -> str:
    """An RFC 3339 time as a datetime-local input's value in this machine's zone (as the page reads it)."""
    at = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone()
    return at.strftime("%Y-%m-%dT%H:%M:%S")


def state(name: str) -> str:
    return (f"(() => {{ const v = document.getElementById({json.dumps(name)});"
            " return {ready: v.readyState, time: v.currentTime, width: v.videoWidth,"
            " error: v.error ? v.error.code : null}; })()")


@contextlib.asynccontextmanager
async def blank_page() -> AsyncIterator[str]:
    """The URL of an empty page served by a server of its own."""
    app = web.Application()
    app.router.add_get("/", _html)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        yield f"http://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()


async def _html(_request: web.Request) -> web.Response:
    return web.Response(text="<!doctype html><title>player</title><body></body>", content_type="text/html")


async def entries(client: Client, admin: str, action: str) -> list[dict[str, Any]]:
    body = await client.get_json(f"/api/v1/access-log?action={action}&limit=1000", admin)
    return [e["payload"] for e in body["entries"]]


async def test_a_signed_get_link_plays_in_a_video_element_without_a_sign_in(
    tmp_path: Path, camera_server: Callable[..., CameraServer]
) -> None:
    need_chromium()
    server = camera_server({"live": "ball"})
    cams = [CameraConfig(id="gate", name="Gate", source=server.url("live"), **FAST)]
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cams,
                             recording={"segment_s": 2, "min_free_bytes": 0}, access={"export": EXPORT})
    async with running_gateway(settings) as client, chromium() as page, contextlib.AsyncExitStack() as stack:
        services = client.gateway.services
        assert services is not None
        admin = await client.sign_in("admin", client.admin_password())
        await services.users.add("omar", "operator", PASSWORD)
        omar = await client.sign_in("omar", PASSWORD)

        async def span() -> dict[str, Any] | None:
            async with client.http.get(client.url("/list?path=gate"), headers={"Authorization": f"Bearer {omar}"}) as r:
                spans = await r.json() if r.status == 200 else []
            return spans[0] if spans and spans[0]["duration"] >= 4 else None

        listed = await until(span, 40, "4 s of sealed recording")
        once = await call(client, "POST", "/api/v1/links", omar, 201, json={"url": listed["url"], "once": True})
        short = await call(client, "POST", "/api/v1/links", omar, 201, json={"url": listed["url"], "ttl_s": 10})
        made_at = time.monotonic()

        # A page of another origin (on loopback too: Chromium keeps a page on a public address, or
        # about:blank, from loading loopback media), no sign-in, no header: the player has the URL only.
        await page.goto(await stack.enter_async_context(blank_page()))
        await video(page, "a", once["url"])
        playing = await page.wait_for(f"(() => {{ const s = {state('a')}; return s.ready >= 2 && s.width > 0 && s; }})()")
        assert playing["error"] is None, playing
        advanced = await page.wait_for(f"(() => {{ const s = {state('a')}; return s.time > 1.0 && s; }})()")
        assert advanced["time"] > 1.0

        # Used once: a second player is refused (the gateway says so in the log) and plays nothing.
        await video(page, "b", once["url"])
        refused = await page.wait_for(f"(() => {{ const s = {state('b')}; return s.error !== null && s; }})()")
        assert refused["ready"] == 0 and refused["width"] == 0, refused

        # The 10 s link played before it expired would play; after 10 s it is refused.
        await asyncio.sleep(max(0.0, 10.5 - (time.monotonic() - made_at)))
        await video(page, "c", short["url"])
        expired = await page.wait_for(f"(() => {{ const s = {state('c')}; return s.error !== null && s; }})()")
        assert expired["ready"] == 0 and expired["width"] == 0, expired

        used = [(e["actor"], e["outcome"], e.get("reason", "")) for e in await entries(client, admin, "link_used")]
        assert used == [("omar", "ok", ""), ("omar", "deny", "this link was used already"),
                        ("omar", "deny", "link_expired: the link has expired")], used
        exports = [e for e in await entries(client, admin, "export") if e["details"].get("link") == once["id"]]
        assert len(exports) == 1 and exports[0]["actor"] == "omar" and exports[0]["outcome"] == "ok", exports
        assert exports[0]["details"]["bytes"] > 0
        assert not page.errors, page.errors

        # The recordings page makes one for the span from "Replay from" (the operator's session),
        # and that URL opens without a header.
        await page.goto(client.url("/static/recordings.html"))
        await sign_in(page, "omar", PASSWORD)
        await page.wait_for("document.getElementById('rec-camera').value === 'gate'")
        await page.evaluate(
            "(() => { const f = document.getElementById('rec-from');"
            f" f.value = {json.dumps(local_input(listed['start']))}; document.getElementById('link-copy').click(); }})()")
        shared = await page.wait_for("document.getElementById('link-url').value")
        note = await page.evaluate("document.getElementById('link-note').textContent")
        assert "logged" in note, note
        async with client.http.get(shared) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "video/mp4", resp.status
            assert len(await resp.read()) > 1000
        made = (await entries(client, admin, "link_issued"))[-1]
        assert (made["actor"], made["camera"], made["details"]["once"]) == ("omar", "gate", False)
