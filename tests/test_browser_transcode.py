"""H.265 cameras on the wall: transcoded to H.264 where allowed, one transcode per camera shared by its
viewers, at most webrtc.max_transcodes at once, and a tile that says why when it cannot play.

One GStreamer H.265 mount (shared: one encoder) feeds three cameras; one gateway, one Chromium and
real aiortc peers serve every check (the machine has two cores).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.config import CameraConfig
from tests.browser import Page, chromium
from tests.fixtures_camera import CameraServer
from tests.gatewayutil import Client, make_settings, running_gateway
from tests.test_browser_wall import ARTIFACTS, need_chromium, sign_in
from tests.test_whep import Viewer
from tests.test_whep_transcode import H264Viewer, wait_until

PASSWORD = "password-123"
QUICK = {"read_timeout_s": 2.0, "stall_timeout_s": 2.0, "open_timeout_s": 3.0, "record": False}
WIDTH = 320  # webrtc.transcode_width: the 640x360 camera arrives 320x180

TILE = """(async (id) => {
  const tile = document.getElementById(id);
  if (!tile) return null;
  const video = tile.querySelector('video');
  let frames = 0;
  if (tile.pc) (await tile.pc.getStats()).forEach(r => {
    if (r.type === 'inbound-rtp' && r.kind === 'video') frames = r.framesDecoded || 0;
  });
  return {frames, time: video.currentTime, width: video.videoWidth, height: video.videoHeight,
          peer: tile.pc ? tile.pc.connectionState : null, refusal: tile.dataset.refusal,
          note: tile.querySelector('.video-note').hidden ? '' : tile.querySelector('.video-note').textContent};
})"""

PURE = r"""(async () => {
  const { refusalText } = await import('/static/js/livetile.js');
  return {busy: refusalText('transcode_busy', {codec: 'H.265', limit: 2}),
          reordered: refusalText('reordered_frames', {codec: 'H.264'}),
          unknown: refusalText('no_such_reason', {}), none: refusalText(null)};
})()"""


async def tile(page: Page, camera: str) -> dict[str, Any]:
    value = await page.evaluate(f"{TILE}('cam-{camera}')")
    assert value is not None, f"no tile for {camera}"
    return dict(value)


async def post_offer(client: Client, camera: str, token: str, h265: bool = False) -> tuple[int, dict[str, str], Any]:
    """POST an aiortc offer (H.264 only, or also H.265) to the live route; the status, headers and
    (problem) body or SDP answer."""
    viewer = Viewer() if h265 else H264Viewer()
    try:
        offer = await viewer.offer()
    finally:
        await viewer.close()
    async with client.http.post(client.url(f"/whep/live/{camera}"), data=offer,
                                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"}) as resp:
        body = await resp.json(content_type=None) if resp.content_type.endswith("json") else await resp.text()
        return resp.status, dict(resp.headers), body


async def test_h265_wall_transcodes_shares_caps_and_explains(
    tmp_path: Path, camera_server: Callable[..., CameraServer]
) -> None:
    need_chromium()
    server = camera_server({"hevc": "ball+h265"})
    cams = [
        CameraConfig(id="hevc-on", name="Transcoded", source=server.url("hevc"), transcode=True, groups=["wall"],
                     **QUICK),
        CameraConfig(id="hevc-off", name="Not transcoded", source=server.url("hevc"), groups=["wall"], **QUICK),
        CameraConfig(id="hevc-spare", name="Spare", source=server.url("hevc"), transcode=True, groups=["spare"],
                     **QUICK),
    ]
    settings = make_settings(
        tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cams,
        webrtc={"max_transcodes": 1, "transcode_width": WIDTH},
        access={"visibility": {"viewer": ["wall"], "operator": ["*"], "admin": ["*"]}},
    )
    async with running_gateway(settings) as client, chromium() as page:
        services = client.gateway.services
        assert services is not None
        transcodes = services.webrtc.transcodes
        await services.users.add("watch", "viewer", PASSWORD)
        admin = await client.sign_in("admin", client.admin_password())
        await wait_until(lambda: all(c.hub.streams for c in services.cameras.values()), 15, "cameras not online")
        assert {c.hub.streams[0].codec for c in services.cameras.values()} == {"hevc"}

        # The wall of a viewer who sees the two "wall" cameras.
        await page.goto(client.url("/"))
        await page.evaluate("localStorage.clear()")
        assert await page.evaluate(PURE) == {
            "busy": "This camera's video is H.265 and must be converted for the browser, but the gateway already "
                    "converts 2 camera(s), its limit. It tries again when one is free.",
            "reordered": "This camera's video is H.264 with B-frames (frames out of order), which browsers cannot "
                         "play live, and the gateway does not convert it. Turn B-frames off in the camera, or have "
                         "an administrator turn on transcode for it.",
            "unknown": None, "none": None}
        await sign_in(page, "watch", PASSWORD)

        # The transcoded tile decodes H.264 at the transcode width, and keeps decoding.
        first = await page.wait_for(f"(async () => {{ const t = await {TILE}('cam-hevc-on');"
                                    " return t && t.frames > 0 && t.time > 0 && t; })()", within_s=20)
        await asyncio.sleep(1.5)
        later = await tile(page, "hevc-on")
        assert (later["width"], later["height"]) == (WIDTH, 180), later
        assert later["frames"] > first["frames"] + 15, (first, later)  # ~25 fps for 1.5 s
        assert later["time"] > first["time"] + 0.8 and later["note"] == ""
        assert transcodes.cameras == ["hevc-on"] and transcodes.viewers("hevc-on") == 1
        async with client.http.get(client.url("/metrics")) as resp:
            metrics = await resp.text()
        assert "pantau_whep_transcodes 1.0" in metrics and "pantau_whep_transcodes_limit 1.0" in metrics
        assert 'pantau_whep_transcoding{camera="hevc-on"} 1.0' in metrics
        assert 'pantau_whep_transcoding{camera="hevc-off"} 0.0' in metrics

        # The camera whose transcoding is off: no black tile, but why, in words.
        off = await page.wait_for(f"(async () => {{ const t = await {TILE}('cam-hevc-off');"
                                  " return t && t.refusal && t; })()", within_s=10)
        assert off["refusal"] == "transcode_off" and off["peer"] is None, off
        assert off["note"] == ("No picture" "This camera's video is H.265, which this browser cannot play, and converting "
                               "it is turned off for this camera. An administrator can turn on transcode for it."), off
        await page.screenshot(ARTIFACTS / "wall-transcode.png")

        # The access log says the wall's session was transcoded, and from what.
        live = await client.get_json("/api/v1/access-log?action=live_start&camera=hevc-on", admin)
        details = [e["payload"]["details"] for e in live["entries"]]
        assert details and all(d["transcoded"] is True and d["source_codec"] == "hevc"
                               and d["transcode_width"] == WIDTH for d in details), details

        # Over HTTP: transcoding off is 422, the cap of one is 503 with Retry-After, each saying why.
        status, _headers, body = await post_offer(client, "hevc-off", admin)
        assert status == 422 and body["reason"] == "transcode_off" and body["codec"] == "H.265", body
        assert "hevc" in body["detail"] and "transcode" in body["detail"]
        status, headers, body = await post_offer(client, "hevc-spare", admin)
        assert status == 503 and body["reason"] == "transcode_busy" and body["limit"] == 1, body
        assert int(headers["Retry-After"]) >= 1 and "hevc-on" in body["detail"]
        assert transcodes.cameras == ["hevc-on"]
        # A viewer whose offer lists H.265 gets the camera's H.265 untouched: no transcode, no cap.
        status, headers, answer = await post_offer(client, "hevc-spare", admin, h265=True)
        assert status == 201 and "H265/90000" in answer and "H264/90000" not in answer, answer
        assert transcodes.cameras == ["hevc-on"]
        async with client.http.delete(client.url(headers["Location"]),
                                      headers={"Authorization": f"Bearer {admin}"}) as resp:
            assert resp.status == 200

        # A second viewer of the transcoded camera shares its transcoder: no second decode.
        source = services.cameras["hevc-on"].hub
        subscribers = source.subscriber_count
        second = H264Viewer()
        try:
            await second.connect(client, "hevc-on", admin)
            frame = await second.first_frame(within=5)
            assert (frame.width, frame.height) == (WIDTH, 180)
            assert transcodes.viewers("hevc-on") == 2 and source.subscriber_count == subscribers
        finally:
            await second.close()

        # In Indonesian, the tile's reason is Indonesian.
        await page.evaluate("(() => { const s = document.getElementById('lang'); s.value = 'id';"
                            " s.dispatchEvent(new Event('change')); })()")
        note = await page.wait_for("document.querySelector('#cam-hevc-off .video-why').textContent"
                                   ".startsWith('Video kamera ini') && document.querySelector('#cam-hevc-off .video-why')"
                                   ".textContent", within_s=5)
        assert note.startswith("Video kamera ini berformat H.265") and "transcode" in note, note

        # Every viewer leaves (the tab is hidden, the peer closes): the transcode stops, and the cap
        # lets the spare camera be transcoded.
        await page.evaluate("(() => { Object.defineProperty(document, 'visibilityState', {configurable: true,"
                            " get: () => 'hidden'}); document.dispatchEvent(new Event('visibilitychange')); })()")
        await wait_until(lambda: transcodes.cameras == [], 10, f"transcodes still running: {transcodes.cameras}")
        assert source.subscriber_count == subscribers - 1  # the transcoder left the camera's hub
        spare = H264Viewer()
        try:
            await spare.connect(client, "hevc-spare", admin)
            frame = await spare.first_frame(within=5)
            assert (frame.width, frame.height) == (WIDTH, 180)
            assert transcodes.cameras == ["hevc-spare"]
        finally:
            await spare.close()
        stops = await client.get_json("/api/v1/access-log?action=live_stop&camera=hevc-on", admin)
        assert stops["entries"] and all(e["payload"]["details"]["transcoded"] is True for e in stops["entries"])
        assert page.errors == [], page.errors
