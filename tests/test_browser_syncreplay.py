"""Replay together in Chromium: three GStreamer cameras recorded by a real gateway, ticked on the
recordings page and replayed in one playback group; the page's one control bar drives them all."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.config import CameraConfig
from core.utctime import parse_rfc3339 as when
from tests.browser import chromium
from tests.fixtures_camera import CameraServer
from tests.gatewayutil import Client, make_settings, running_gateway, until
from tests.test_browser_wall import ARTIFACTS, PASSWORD, need_chromium, sign_in
from webrtc.playback import Player

log = logging.getLogger(__name__)

SYNC = "document.querySelector('.sync-replay').syncReplay"
TILE_FRAMES = """(async () => {
  const out = [];
  for (const tile of SYNC.tiles) {
    let frames = 0;
    if (tile.session?.pc) (await tile.session.pc.getStats()).forEach(r => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') frames = r.framesDecoded || 0;
    });
    out.push(frames);
  }
  return out;
})()""".replace("SYNC", SYNC)


async def _recorded(client: Client, token: str, camera: str, since: datetime, seconds: float) -> bool:
    body = await client.get_json(f"/api/v1/recordings?camera={camera}&start={since.isoformat().replace('+00:00', 'Z')}"
                                 f"&end={(since + timedelta(hours=1)).isoformat().replace('+00:00', 'Z')}", token)
    segments = body["segments"]
    return bool(segments) and (when(segments[-1]["end"]) - when(segments[0]["start"])).total_seconds() >= seconds


def _positions(client: Client) -> dict[str, Any]:
    services = client.gateway.services
    assert services is not None
    groups = list(services.webrtc.groups)
    return {"groups": len(groups), "members": [len(g.members) for g in groups],
            "positions": [m.position for g in groups for m in g.members if isinstance(m, Player)]}


async def test_the_page_replays_three_cameras_together(tmp_path: Path) -> None:
    need_chromium()
    server = CameraServer({"a": "ball+320x180+gop50", "b": "ball+320x180+gop37", "c": "ball+320x180+gop29"})
    server.start()
    try:
        cams = [CameraConfig(id=cid, name=f"Gate {cid.upper()}", source=server.url(cid)) for cid in ("a", "b", "c")]
        settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cams,
                                 recording={"segment_s": 2, "min_free_bytes": 0})
        async with running_gateway(settings) as client, chromium() as page:
            await client.gateway.services.users.add("ops", "operator", PASSWORD)  # type: ignore[union-attr]
            ops = await client.sign_in("ops", PASSWORD)
            since = datetime.now(UTC) - timedelta(minutes=1)

            async def recorded() -> bool:
                return all([await _recorded(client, ops, cid, since, 10) for cid in ("a", "b", "c")])

            await until(recorded, 60, "ten seconds recorded by every camera")

            await page.send("Runtime.enable")
            await page.goto(client.url("/static/recordings.html"))
            await sign_in(page, "ops", PASSWORD)
            await page.goto(client.url("/static/recordings.html"))
            await page.wait_for("document.querySelectorAll('.timeline .seg').length > 0")
            await page.wait_for(f"!!{SYNC}")
            # Fewer than two ticked: the button stays off; three: on.
            await page.evaluate("document.querySelector('.sync-replay').open = true")
            assert await page.evaluate("document.querySelector('.sync-replay button.primary').disabled") is True
            await page.evaluate("""document.querySelectorAll('.sync-replay input[type=checkbox]').forEach(b => {
              b.checked = true; b.dispatchEvent(new Event('change')); })""")
            assert await page.evaluate("document.querySelector('.sync-replay button.primary').disabled") is False
            await page.evaluate("document.querySelector('.sync-replay .toolbar button.primary').click()")
            await page.wait_for(f"(async () => (await {TILE_FRAMES}).every(n => n > 10))()", within_s=30)
            await until(lambda: _three(client), 15, "three members in one group")

            # 2x from the bar; every tile reports the group's rate, all from one group clock.
            await page.evaluate("""(() => { const s = document.querySelector('.sync-bar select'); s.value = '2';
              s.dispatchEvent(new Event('change')); })()""")
            await page.wait_for(f"{SYNC}.tiles.every(t => t.at) && {SYNC}.rate === 2", within_s=10)
            await asyncio.sleep(2.5)  # a report or two at 2x
            spread = await _spread(client)
            log.warning("page replay at 2x: server positions %.3f s apart", spread)
            assert spread <= 0.2
            labels = await page.evaluate(f"{SYNC}.tiles.map(t => t.element.querySelector('figcaption').textContent)")
            assert [label.startswith(f"Gate {c}") for label, c in zip(labels, "ABC", strict=True)] == [True] * 3, labels
            assert all("drift" in label for label in labels), labels
            await page.evaluate("document.querySelector('.sync-replay').scrollIntoView()")
            await page.screenshot(ARTIFACTS / "recordings-sync-replay.png")

            # Space on the pictures pauses them all; the server says so on every member's channel.
            await page.evaluate("document.querySelector('.sync-grid').focus()")
            await page.send("Input.dispatchKeyEvent", type="keyDown", key=" ", code="Space", text=" ",
                            windowsVirtualKeyCode=32)
            await page.send("Input.dispatchKeyEvent", type="keyUp", key=" ", code="Space", windowsVirtualKeyCode=32)
            await until(lambda: _paused(client), 10, "the group paused")
            held = _positions(client)["positions"]
            await asyncio.sleep(1.0)
            assert _positions(client)["positions"] == held
            await page.wait_for(f"{SYNC}.paused === true && document.querySelector('.sync-bar button.primary')"
                                ".textContent === 'Resume'")
            # ArrowLeft: every member 10 s back (one seek for the group).
            before = max(held)
            await page.send("Input.dispatchKeyEvent", type="keyDown", key="ArrowLeft", code="ArrowLeft",
                            windowsVirtualKeyCode=37)
            await until(lambda: _moved_back(client, before - 9), 10, "every member 10 s back")
            await page.screenshot(ARTIFACTS / "recordings-sync-replay-paused.png")
            await page.evaluate(f"{SYNC}.stop()")
            await until(lambda: _none(client), 15, "the group gone with its members")
            assert page.errors == [], page.errors
    finally:
        server.stop()


async def _three(client: Client) -> bool:
    state = _positions(client)
    return state["groups"] == 1 and state["members"] == [3]


async def _spread(client: Client) -> float:
    positions = _positions(client)["positions"]
    return max(positions) - min(positions)


async def _paused(client: Client) -> bool:
    services = client.gateway.services
    assert services is not None
    return all(g.clock.paused for g in services.webrtc.groups)


async def _moved_back(client: Client, below: float) -> bool:
    positions = _positions(client)["positions"]
    return len(positions) == 3 and max(positions) < below


async def _none(client: Client) -> bool:
    return _positions(client)["groups"] == 0
