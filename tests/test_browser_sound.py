"""Sound on the wall and in the player, in Debian's headless Chromium against a running gateway and
GStreamer cameras with G.711 A-law, with AAC, and without sound.

One gateway and one browser: the wall's tiles receive sound (getStats: audio inbound-rtp with
samples received advancing, PCMA as the camera sent it, AAC as Opus), every tile starts muted, a
camera without sound shows no sound button, the buttons work from the keyboard and only one tile is
heard at a time; then the recordings page replays the AAC camera with its sound.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.config import CameraConfig
from tests.browser import Page, chromium
from tests.fixtures_camera import CameraServer
from tests.gatewayutil import make_settings, running_gateway
from tests.test_browser_wall import ARTIFACTS, need_chromium, sealed_until, sign_in

# Per tile (or player): the sound's inbound-rtp figures and codec, and the sound button's state.
SOUND_STATS = """(async () => {
  const out = {};
  for (const node of document.querySelectorAll('.tile[data-camera], .player')) {
    const stats = node.pc ? await node.pc.getStats() : new Map();
    let sound = null;
    stats.forEach(r => {
      if (r.type === 'inbound-rtp' && r.kind === 'audio') {
        const codec = r.codecId && stats.get(r.codecId);
        sound = {samples: r.totalSamplesReceived || 0, packets: r.packetsReceived || 0,
                 codec: codec ? codec.mimeType : null};
      }
    });
    const button = node.querySelector('.sound');
    out[node.dataset.camera] = {sound, muted: node.querySelector('video').muted, button: !button.hidden,
                                pressed: button.getAttribute('aria-pressed'), label: button.textContent};
  }
  return out;
})()"""


async def stats(page: Page) -> dict[str, dict[str, Any]]:
    return await page.evaluate(SOUND_STATS)  # type: ignore[no-any-return]


async def press(page: Page, selector: str, key: str, code: str, keycode: int) -> None:
    """Focus `selector` and press a key on it, as a keyboard user does."""
    await page.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
    # keyDown with the key's text is what makes a focused button activate, as in a real browser.
    text = {"Enter": "\r", " ": " "}[key]
    await page.send("Input.dispatchKeyEvent", type="keyDown", key=key, code=code, windowsVirtualKeyCode=keycode,
                    text=text)
    await page.send("Input.dispatchKeyEvent", type="keyUp", key=key, code=code, windowsVirtualKeyCode=keycode)


async def test_wall_and_player_sound(tmp_path: Path, camera_server: Callable[..., CameraServer]) -> None:
    need_chromium()
    server = camera_server({"alaw": "ball+pcma", "aac": "ball+aac", "mute": "ball"})
    cams = [CameraConfig(id="door", name="Door", source=server.url("alaw"), record=False),
            CameraConfig(id="hall", name="Hall", source=server.url("aac")),
            CameraConfig(id="yard", name="Yard", source=server.url("mute"), record=False)]
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cams,
                             recording={"segment_s": 2, "min_free_bytes": 0})
    async with running_gateway(settings) as client, chromium() as page:
        started = datetime.now(UTC)
        await page.goto(client.url("/"))
        assert await page.evaluate("""(async () => {
          const { soundOf } = await import('/static/js/whep.js');
          const answer = (dir) => `v=0\\r\\nm=video 9 UDP/TLS/RTP/SAVPF 97\\r\\na=sendonly\\r\\n`
            + `m=audio 9 UDP/TLS/RTP/SAVPF 8\\r\\na=${dir}\\r\\na=rtpmap:8 PCMA/8000\\r\\n`;
          return [soundOf(answer('sendonly')), soundOf(answer('inactive')), soundOf('v=0\\r\\nm=video 9 x 97\\r\\n')];
        })()""") == ["PCMA", None, None]
        await sign_in(page, "admin", client.admin_password())

        # Sound reaches both tiles of cameras with sound, in the codec each needs; none reaches the other.
        hearing = ("(async () => { const s = await " + SOUND_STATS + ";"
                   " return s.door?.sound?.samples > 0 && s.hall?.sound?.samples > 0 && s; })()")
        first = await page.wait_for(hearing, within_s=25)
        await asyncio.sleep(1.5)
        later = await stats(page)
        await page.screenshot(ARTIFACTS / "wall-sound.png")
        for camera, codec in (("door", "audio/PCMA"), ("hall", "audio/opus")):
            sound = later[camera]["sound"]
            assert isinstance(sound, dict) and sound["codec"] == codec, later
            # ~1.5 s of sound more: 12000 samples at 8 kHz, 72000 at 48 kHz.
            assert sound["samples"] > first[camera]["sound"]["samples"] + 8000, (first, later)
        yard = later["yard"]["sound"]
        assert yard is None or yard["packets"] == 0, later
        # Muted at first; a button where there is sound, none where there is not.
        assert [(later[c]["muted"], later[c]["button"]) for c in ("door", "hall", "yard")] == [
            (True, True), (True, True), (True, False)]

        # The keyboard turns the door's sound on, then the hall's: one tile heard at a time.
        await press(page, "#cam-door .sound", "Enter", "Enter", 13)
        now = await stats(page)
        assert (now["door"]["muted"], now["door"]["pressed"], now["hall"]["muted"]) == (False, "true", True)
        await press(page, "#cam-hall .sound", " ", "Space", 32)
        now = await stats(page)
        assert (now["door"]["muted"], now["door"]["pressed"], now["hall"]["muted"], now["hall"]["pressed"]) == (
            True, "false", False, "true")
        await press(page, "#cam-hall .sound", "Enter", "Enter", 13)
        assert (await stats(page))["hall"]["muted"] is True
        await page.evaluate("(() => { const s = document.getElementById('lang'); s.value = 'id';"
                            " s.dispatchEvent(new Event('change')); })()")
        assert (await stats(page))["door"]["label"] == "Suara"
        assert await page.evaluate("document.querySelector('#cam-door .sound').title") == (
            "Nyalakan suara kamera ini (yang lain dibisukan)")
        await page.evaluate("(() => { const s = document.getElementById('lang'); s.value = 'en';"
                            " s.dispatchEvent(new Event('change')); })()")

        # The recordings page replays the AAC camera with its sound (Opus), muted until asked.
        await sealed_until(client, "hall", started, 2)
        await page.goto(client.url("/static/recordings.html#camera=hall"))
        await page.wait_for("document.querySelectorAll('.timeline .seg').length > 0")
        await page.evaluate("document.getElementById('rec-play').click()")
        replay = ("(async () => { const s = await " + SOUND_STATS + ";"
                  " return s.hall?.sound?.samples > 0 && s.hall; })()")
        played = await page.wait_for(replay, within_s=20)
        assert played["sound"]["codec"] == "audio/opus" and played["muted"] is True and played["button"], played
        await page.screenshot(ARTIFACTS / "player-sound.png")
        assert page.errors == [], page.errors
