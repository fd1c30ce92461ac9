"""A real browser: Debian's headless Chromium signs in on the status page and decodes two live tiles."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from core.config import CameraConfig
from tests.browser import CHROMIUM, chromium
from tests.fixtures_camera import CameraServer
from tests.gatewayutil import make_settings, running_gateway

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
HAVE_CHROMIUM = Path(CHROMIUM).exists()

TILE_STATS = """(async () => {
  const out = {};
  for (const tile of document.querySelectorAll('.tile')) {
    const video = tile.querySelector('video');
    let frames = 0;
    if (tile.pc) (await tile.pc.getStats()).forEach(r => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') frames = r.framesDecoded || 0;
    });
    out[tile.id] = {frames, time: video.currentTime, width: video.videoWidth, height: video.videoHeight};
  }
  return out;
})()"""


async def test_chromium_signs_in_and_decodes_two_live_tiles(
    tmp_path: Path, camera_server: Callable[..., CameraServer]
) -> None:
    if not HAVE_CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is required in CI (scripts/test installs it)")
        pytest.skip("Debian's chromium is not installed (scripts/test installs it)")
    server = camera_server({"north": "ball", "south": "snow"})
    cams = [CameraConfig(id="gate-north", name="North gate", source=server.url("north")),
            CameraConfig(id="gate-south", name="South gate", source=server.url("south"))]
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cams)
    async with running_gateway(settings) as client, chromium() as page:
        await page.goto(client.url("/"))
        password = client.admin_password()
        await page.evaluate(
            "(() => { const f = document.getElementById('signin');"
            " f.username.value = 'admin'; f.password.value = " + repr(password) + "; f.requestSubmit(); })()"
        )
        deadline = time.monotonic() + 20
        first: dict[str, dict[str, float]] = {}
        while time.monotonic() < deadline:
            stats = await page.evaluate(TILE_STATS)
            if len(stats) == 2 and all(s["frames"] > 0 and s["time"] > 0 for s in stats.values()):
                first = stats
                break
            await asyncio.sleep(0.25)
        assert first, f"tiles did not decode within 20 s: {stats}"
        await asyncio.sleep(2.0)
        later = await page.evaluate(TILE_STATS)
        await page.screenshot(ARTIFACTS / "status-page-live.png")
        for tile in ("cam-gate-north", "cam-gate-south"):
            assert (later[tile]["width"], later[tile]["height"]) == (640, 360)
            assert later[tile]["frames"] > first[tile]["frames"] + 20  # ~25 fps for 2 s
            assert later[tile]["time"] > first[tile]["time"] + 1.0  # the video really plays
        token = await client.sign_in("admin", password)
        live = await client.get_json("/api/v1/access-log?action=live_start", token)
        assert {e["payload"]["camera"] for e in live["entries"]} == {"gate-north", "gate-south"}
