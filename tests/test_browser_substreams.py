"""A 16-tile wall of cameras with sub-streams, in Debian's headless Chromium over real WHEP.

One GStreamer camera server serves 16 main streams (640x360 at a constant 1000 kbit/s) and 16
sub-streams (320x180 at 200 kbit/s), as a city's cameras are set up but smaller (each kind encoded
once and re-sent by all 16 mounts: the machine cannot encode 16 720p pictures live, and a software
Chromium beside two other test workers on CI's two cores took minutes to switch 16 720p tiles).
The wall plays the sub-streams
and then, by the user's choice, the main streams; the bytes the gateway hands the viewers in a few
seconds of each are compared. Meanwhile the recorder seals main-stream segments. Then one tile goes
full screen and switches to its main stream, and back, with a picture on screen at every animation
frame of the swap (sampled in the page).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from core.config import CameraConfig
from tests.browser import Page, chromium
from tests.fixtures_camera import CameraServer
from tests.gatewayutil import make_settings, running_gateway, until
from tests.test_browser_wall import ARTIFACTS, need_chromium, sign_in

CAMERAS = 16
MAIN_KBPS, SUB_KBPS = 1000, 200
MAIN_W, MAIN_H = 640, 360
WINDOW_S = 4.0

# Per tile: the stream it plays, its picture size and frames decoded, bytes received by its peer.
TILES = """(async () => {
  const out = {};
  for (const tile of document.querySelectorAll('.tile[data-camera]')) {
    const video = [...tile.querySelectorAll('video')].find(v => !v.classList.contains('incoming'));
    let frames = 0, bytes = 0;
    if (tile.pc) (await tile.pc.getStats()).forEach(r => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') { frames = r.framesDecoded || 0; bytes = r.bytesReceived || 0; }
    });
    out[tile.dataset.camera] = {stream: tile.dataset.stream, width: video.videoWidth, height: video.videoHeight,
                                frames, bytes, status: tile.querySelector('.status').textContent};
  }
  return out;
})()"""


def all_playing(stream: str, width: int) -> str:
    """JS: every tile plays `stream` at `width` with frames decoded (the stats), else false."""
    return (f"(async () => {{ const s = await {TILES}; const v = Object.values(s);"
            f" return v.length === {CAMERAS} && v.every(t => t.stream === {json.dumps(stream)}"
            f" && t.width === {width} && t.frames > 0) && s; }})()")


async def measure(page: Page, sent: Any, tries: int = 3) -> tuple[int, int]:
    """Bytes the gateway handed the viewers, and bytes the browser's peers received, over WINDOW_S
    in which every tile played the same stream throughout. On a starved machine a tile may decide
    its peer stalled and reconnect in the window (its counters start over): the window is taken
    again, at most `tries` times."""
    for _ in range(tries):
        gateway0, browser0 = sum(sent.values()), await page.evaluate(TILES)
        await asyncio.sleep(WINDOW_S)
        gateway1, browser1 = sum(sent.values()), await page.evaluate(TILES)
        changed = {k: (v["stream"], browser1[k]["stream"], browser1[k]["status"]) for k, v in browser0.items()
                   if v["stream"] != browser1[k]["stream"] or browser1[k]["bytes"] < v["bytes"]}
        if not changed:
            return gateway1 - gateway0, sum(browser1[k]["bytes"] - browser0[k]["bytes"] for k in browser1)
    raise AssertionError(f"a tile changed stream or reconnected in each of {tries} windows: {changed}")


# Samples the full-screen tile's shown <video> at every animation frame (the page's own clock).
SAMPLER = """(() => {
  window.__samples = []; window.__sampling = true;
  const tile = document.getElementById('cam-c00');
  const sample = () => {
    const shown = [...tile.querySelectorAll('video')].filter(v => !v.classList.contains('incoming'));
    const v = shown[0];
    window.__samples.push({shown: shown.length, ready: v ? v.readyState : -1, width: v ? v.videoWidth : 0,
                           live: !!(v && v.srcObject), paused: v ? v.paused : true, stream: tile.dataset.stream});
    if (window.__sampling) requestAnimationFrame(sample);
  };
  requestAnimationFrame(sample);
})()"""


async def sampled_swap(page: Page, action: Any, stream: str, width: int) -> list[dict[str, Any]]:
    """Run `action` (going full screen or leaving it) while sampling; wait until the tile plays `stream`
    at `width` with frames advancing; the samples."""
    await page.evaluate(SAMPLER)
    await action()
    await page.wait_for(f"(async () => {{ const t = (await {TILES}).c00; return !!t && t.stream === {json.dumps(stream)}"
                        f" && t.width === {width} && t.frames > 10; }})()", within_s=20)
    await asyncio.sleep(0.5)
    samples: list[dict[str, Any]] = await page.evaluate("(() => { window.__sampling = false; return window.__samples; })()")
    return samples


@pytest.mark.timeout(420)
async def test_sixteen_sub_stream_tiles_cost_under_a_third_and_full_screen_switches_without_black(
    tmp_path: Path, camera_server: Any
) -> None:
    need_chromium()
    mounts = {}
    for i in range(CAMERAS):
        # `shared`: one encoder per stream kind, re-sent by every mount (16 live encodes need several cores).
        mounts[f"m{i}"] = f"ball+{MAIN_W}x{MAIN_H}+{MAIN_KBPS}kbps+shared"
        mounts[f"s{i}"] = f"ball+320x180+{SUB_KBPS}kbps+shared"
    server: CameraServer = camera_server(mounts)
    cams = [CameraConfig(id=f"c{i:02d}", name=f"Camera {i}", source=server.url(f"m{i}"), substream=server.url(f"s{i}"))
            for i in range(CAMERAS)]
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cams, recording={"segment_s": 2})
    async with running_gateway(settings) as client, chromium(1600, 1000) as page:
        services = client.gateway.services
        assert services is not None
        token = await client.sign_in("admin", client.admin_password())
        listed = await client.get_json("/api/v1/cameras", token)
        await page.goto(client.url("/"))
        await page.evaluate("localStorage.clear(); localStorage.setItem('pantau.wall.layout', '16')")
        await sign_in(page, "admin", client.admin_password())
        assert all(c["substream"] for c in listed["cameras"])

        # The grid plays every camera's sub-stream.
        await page.wait_for(all_playing("sub", 320), within_s=120)  # 16 tiles starting in a software Chromium beside two other CI workers
        listed = await client.get_json("/api/v1/cameras", token)
        first = listed["cameras"][0]["streams"]
        assert (first["main"]["codec"], first["main"]["width"], first["main"]["height"]) == ("h264", MAIN_W, MAIN_H)
        assert (first["sub"]["codec"], first["sub"]["width"], first["sub"]["height"]) == ("h264", 320, 180)
        await page.screenshot(ARTIFACTS / "wall-16-substreams.png")
        sub_sent, sub_received = await measure(page, services.webrtc.sent_bytes)

        # The same wall of main streams, by the user's choice (each tile switches in place).
        await page.evaluate("(() => { const s = document.getElementById('grid-stream'); s.value = 'main';"
                            " s.dispatchEvent(new Event('change')); })()")
        # Sixteen decodes in a software Chromium beside two other test workers on CI's two cores:
        # the tiles switch in turn, some only after a minute or more.
        try:
            await page.wait_for(all_playing("main", MAIN_W), within_s=120)
        except TimeoutError:
            raise AssertionError(f"not every tile plays its main stream: {await page.evaluate(TILES)}") from None
        # The sub-stream sessions the switches closed are gone (each tile's DELETE and peer close).
        async def one_session_each() -> bool:
            return all(services.webrtc.viewers(c.id) == 1 for c in cams)

        # (On a loaded machine closing 16 peers and logging each live_stop has taken over 10 s, and
        # once over 30 s: SQLite's writes stalled for its 30 s busy timeout, the stall described in
        # the session notes, not yet cured.)
        await until(one_session_each, 90, "one session per tile")
        main_sent, main_received = await measure(page, services.webrtc.sent_bytes)
        ratio = sub_sent / main_sent
        print(f"16 tiles, {WINDOW_S:g} s: sub-streams {sub_sent} B sent ({sub_received} B received), "
              f"main streams {main_sent} B sent ({main_received} B received): ratio {ratio:.3f}")
        assert ratio < 1 / 3, (sub_sent, main_sent)
        assert sub_received / main_received < 1 / 3, (sub_received, main_received)

        # The recorder sealed main-stream segments of every camera meanwhile.
        writers = services.recorder.writers
        assert set(writers) == {c.id for c in cams}
        assert all(w.segments and all(s.stream == "main" and s.width == MAIN_W for s in w.segments)
                   for w in writers.values())

        # Back to the sub-streams; then full screen on the first tile switches it to its main stream.
        await page.evaluate("(() => { const s = document.getElementById('grid-stream'); s.value = 'sub';"
                            " s.dispatchEvent(new Event('change')); })()")
        await page.wait_for(all_playing("sub", 320), within_s=120)  # as at the start, beside other CI workers
        box = await page.evaluate("(() => { const r = document.getElementById('cam-c00').getBoundingClientRect();"
                                  " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()")

        async def double_click() -> None:
            for count in (1, 2):
                for kind in ("mousePressed", "mouseReleased"):
                    await page.send("Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"], button="left",
                                    clickCount=count)

        async def enter_key() -> None:
            await page.evaluate("document.getElementById('cam-c00').focus()")
            for kind in ("keyDown", "keyUp"):
                await page.send("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter",
                                windowsVirtualKeyCode=13)

        going = await sampled_swap(page, double_click, "main", MAIN_W)
        assert await page.evaluate("document.fullscreenElement?.id") == "cam-c00"
        await page.screenshot(ARTIFACTS / "wall-fullscreen-main.png")
        leaving = await sampled_swap(page, enter_key, "sub", 320)
        assert await page.evaluate("document.fullscreenElement") is None
        for samples, before, after in ((going, 320, MAIN_W), (leaving, MAIN_W, 320)):
            widths = [s["width"] for s in samples]
            # The swap happened while sampling, and no animation frame showed a tile without a picture.
            assert widths[0] == before and widths[-1] == after and len(samples) > 10, widths
            black = [s for s in samples if not (s["shown"] == 1 and s["ready"] >= 2 and s["width"] > 0 and s["live"]
                                                and not s["paused"])]
            assert black == [], black[:5]

        async def one_for_c00() -> bool:  # the swapped-out session's DELETE may still be on its way
            return services.webrtc.viewers("c00") == 1

        await until(one_for_c00, 15, "one session for the full-screen tile after the swaps")
        assert page.errors == [], page.errors

        # Leaving the page closes every tile's session (its DELETE), none is left behind.
        await page.goto("about:blank")

        async def none_left() -> bool:
            return all(services.webrtc.viewers(c.id) == 0 for c in cams)

        await until(none_left, 30, "every session closed")


async def test_full_screen_of_a_main_stream_the_browser_cannot_be_sent_keeps_the_sub_stream_and_says_why(
    tmp_path: Path, camera_server: Any
) -> None:
    """An H.265 main stream with an H.264 sub-stream (as many cameras sold today come): the grid plays
    the sub-stream; full screen asks for the main stream, the gateway refuses it with its reason, and
    the tile keeps playing the sub-stream and shows that reason."""
    need_chromium()
    server: CameraServer = camera_server({"main": "ball+h265+640x360", "sub": "ball+320x180"})
    cams = [CameraConfig(id="c00", name="HEVC camera", source=server.url("main"), substream=server.url("sub"),
                         record=False)]
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cams)
    async with running_gateway(settings) as client, chromium() as page:
        await page.goto(client.url("/"))
        await page.evaluate("localStorage.clear(); localStorage.setItem('pantau.wall.layout', '1')")
        await sign_in(page, "admin", client.admin_password())
        before = await page.wait_for(f"(async () => {{ const t = (await {TILES}).c00;"
                                     " return !!t && t.stream === 'sub' && t.width === 320 && t; })()", within_s=30)
        box = await page.evaluate("(() => { const r = document.getElementById('cam-c00').getBoundingClientRect();"
                                  " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()")
        for count in (1, 2):
            for kind in ("mousePressed", "mouseReleased"):
                await page.send("Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"], button="left",
                                clickCount=count)
        await page.wait_for("document.fullscreenElement?.id === 'cam-c00'", within_s=5)
        status = await page.wait_for("(() => { const s = document.querySelector('#cam-c00 .status').textContent;"
                                     " return s.startsWith('Main stream cannot play') && s; })()", within_s=15)
        # The gateway's reason, in words (this Chromium's offer lists no H.265, and transcode is off).
        assert status == ("Main stream cannot play: This camera's video is H.265, which this browser cannot play,"
                          " and converting it is turned off for this camera. An administrator can turn on"
                          " transcode for it. Showing the sub-stream."), status
        after = await page.wait_for(f"(async () => {{ const t = (await {TILES}).c00;"
                                    f" return t.frames > {before['frames']} + 25 && t; }})()", within_s=10)
        assert (after["stream"], after["width"]) == ("sub", 320)  # the sub-stream played on throughout
        await page.screenshot(ARTIFACTS / "wall-fullscreen-main-refused.png")
        assert client.gateway.services is not None and client.gateway.services.webrtc.viewers("c00") == 1
        assert page.errors == [], page.errors
