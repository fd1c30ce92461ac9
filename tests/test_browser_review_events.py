"""The replay desk in Chromium: a GStreamer camera behind a replayed ONVIF device records; a motion
event it reports appears as a marker on the recordings page's timeline and in the event list;
clicking it replays from review.preroll_s before the event, and the server's position report (the
playback control channel's "position" event, which the page's Player keeps) says so."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.config import CameraConfig
from tests.browser import chromium
from tests.fixtures_camera import CameraServer
from tests.gatewayutil import make_settings, running_gateway, until
from tests.onvif.soap_replay import EventDevice
from tests.test_browser_wall import ARTIFACTS, PASSWORD, PLAYER_FRAMES, need_chromium, sealed_until, sign_in

FAST = {"subscription_s": 10, "pull_timeout_s": 1, "retry_initial_s": 0.2, "retry_max_s": 1}
PREROLL_S = 4.0
PLAYER = "document.querySelector('.player').player"
# Every position report the page's players receive, with the page's clock when it came; and, while
# window.pauseAtOnce, a pause sent the moment the control channel opens, so the server's first
# report says where the replay began rather than where it got to a second later.
WATCH_POSITIONS = """(async () => {
  const { Player } = await import('/static/js/player.js');
  const seen = Player.prototype.onEvent;
  const open = Player.prototype.open;
  window.positions = [];
  Player.prototype.onEvent = function (raw) {
    try { const m = JSON.parse(raw); if (m.event === 'position') window.positions.push({ ...m, got: Date.now() }); }
    catch { /* not ours to judge */ }
    return seen.call(this, raw);
  };
  Player.prototype.open = async function (from) {
    await open.call(this, from);
    const pause = () => { if (window.pauseAtOnce) { window.pauseAtOnce = false; this.send({ op: 'pause' }); } };
    if (this.channel?.readyState === 'open') pause(); else this.channel?.addEventListener('open', pause);
  };
})()"""


async def test_a_motion_event_on_the_timeline_replays_from_before_it(
    tmp_path: Path, camera_server: Callable[..., CameraServer]
) -> None:
    need_chromium()
    # A keyframe every 0.4 s: replay starts on the first keyframe at or after the moment asked for
    # (frames before the authorized window are never sent), so a 2 s GOP could start it 2 s late.
    camera = camera_server({"main": "ball+gop10"})
    async with EventDevice(stream_uri=camera.url("main")) as device:
        cams = [CameraConfig(id="gate", name="North gate", source=device.source(), groups=["gates"])]
        settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cams, events=FAST,
                                 recording={"segment_s": 2}, review={"preroll_s": PREROLL_S})
        async with running_gateway(settings) as client, chromium(1400, 1000) as page:
            services = client.gateway.services
            assert services is not None
            await services.users.add("ops", "operator", PASSWORD)
            await device.wait_for(lambda: device.live == 1, within=30)
            started = datetime.now(UTC)
            # Enough recorded before the event for the pre-roll to land on video.
            await sealed_until(client, "gate", started - timedelta(seconds=5), segments=4)
            device.push("motion")

            async def motion_stored() -> list[dict[str, object]]:
                body = await client.get_json("/api/v1/events?camera=gate&kind=motion",
                                             await client.sign_in("admin", client.admin_password()))
                return [e for e in body["events"] if e["active"]]

            motion = (await until(motion_stored, within=20, what="the motion event"))[0]
            event_at = datetime.fromisoformat(str(motion["at"]).replace("Z", "+00:00"))
            await sealed_until(client, "gate", event_at, segments=2)  # video after the event too
            device.push("motion", "false")

            await page.goto(client.url("/static/recordings.html#camera=gate"))
            await sign_in(page, "ops", PASSWORD)
            await page.wait_for("document.querySelectorAll('.timeline .seg').length > 0")
            # The marker on the timeline (zoomed to 10 minutes around now) and the item in the list.
            await page.evaluate("(() => { const z = document.querySelector('.timeline-wrap select'); z.value = '10';"
                                " z.dispatchEvent(new Event('change')); })()")
            await page.wait_for("document.querySelectorAll('.timeline .ev-mark.ev-onvif').length === 1"
                                " && document.querySelectorAll('#events .ev-item.ev-onvif').length === 1")
            mark = await page.evaluate("""(() => { const m = document.querySelector('.timeline .ev-mark.ev-onvif');
              const r = m.getBoundingClientRect(); return { title: m.title, w: r.width, h: r.height,
              colour: getComputedStyle(m).backgroundColor }; })()""")
            assert mark["title"].startswith("Motion · ") and "CellMotionDetector/Motion" in mark["title"], mark
            assert mark["w"] >= 4 and mark["h"] >= 4, mark
            item = await page.evaluate("document.querySelector('#events .ev-item.ev-onvif').textContent")
            assert "Motion" in item and "CellMotionDetector" in item, item
            assert await page.evaluate("document.querySelector('#events .ev-item').tagName") == "BUTTON"
            preroll = await page.evaluate("document.querySelector('.ev-desk p.note:last-child').textContent")
            assert preroll == "Replay starts 4 s before the event you pick.", preroll
            # The family boxes and the search filter the list and the markers.
            await page.evaluate("(() => { const b = document.querySelector('.ev-family.ev-onvif input'); b.click(); })()")
            await page.wait_for("document.querySelectorAll('.timeline .ev-mark.ev-onvif').length === 0"
                                " && !document.querySelector('#events .ev-item.ev-onvif')")
            await page.evaluate("document.querySelector('.ev-family.ev-onvif input').click()")
            await page.evaluate("(() => { const s = document.getElementById('ev-search'); s.value = 'no such thing';"
                                " s.dispatchEvent(new Event('input')); })()")
            await page.wait_for("!document.querySelector('#events .ev-item')")
            await page.evaluate("(() => { const s = document.getElementById('ev-search'); s.value = 'motion';"
                                " s.dispatchEvent(new Event('input')); })()")
            await page.wait_for("document.querySelectorAll('#events .ev-item.ev-onvif').length === 1")
            await page.screenshot(ARTIFACTS / "review-events.png")

            # Enter on the list item (a button, focused from the keyboard's point of view) replays.
            await page.evaluate(WATCH_POSITIONS)
            await page.evaluate("window.pauseAtOnce = true; document.querySelector('#events .ev-item.ev-onvif').focus()")
            for kind in ("keyDown", "keyUp"):
                await page.send("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter",
                                windowsVirtualKeyCode=13, **({"text": "\r"} if kind == "keyDown" else {}))
            await page.wait_for("window.positions.some((p) => p.paused)", within_s=30)
            target = (event_at - timedelta(seconds=PREROLL_S)).timestamp() * 1000
            assert abs(await page.evaluate(f"{PLAYER}.from.getTime()") - target) < 1  # the session opened there
            held = await page.evaluate("window.positions.find((p) => p.paused)")
            reported = datetime.fromisoformat(held["at"].replace("Z", "+00:00")).timestamp() * 1000
            print(f"position report at the start: {reported - target:+.0f} ms from event - preroll")
            # The session's own record of the frames it sent begins there too.
            location = await page.evaluate(f"{PLAYER}.session.location")
            session = services.webrtc.get(location.rsplit("/", 1)[1])
            assert session is not None and session.player is not None and session.player.sent.first is not None
            first_sent = session.player.sent.first * 1000
            print(f"first frame sent: {first_sent - target:+.0f} ms from event - preroll")
            assert abs(reported - target) < 1000, (held, target)
            assert abs(first_sent - target) < 1000, (first_sent, target)
            await page.evaluate("document.querySelector('.player button.primary').click()")  # resume
            await page.wait_for("window.positions.some((p) => p.paused === false && Date.parse(p.at) > "
                                f"{reported} + 1500)", within_s=20)
            await page.wait_for(f"(async () => (await {PLAYER_FRAMES}) > 0)()", within_s=20)
            await page.evaluate("document.querySelector('.player').scrollIntoView()")
            await page.screenshot(ARTIFACTS / "review-events-replay.png")

            # The marker replays too, from the same moment.
            await page.evaluate(f"{PLAYER}.stop(); window.positions = []; window.pauseAtOnce = true")
            await page.evaluate("window.scrollTo(0, 0); document.querySelector('.timeline .ev-mark.ev-onvif').click()")
            await page.wait_for("window.positions.some((p) => p.paused)", within_s=30)
            again = await page.evaluate("window.positions.find((p) => p.paused)")
            reported = datetime.fromisoformat(again["at"].replace("Z", "+00:00")).timestamp() * 1000
            print(f"marker: position report at the start {reported - target:+.0f} ms from event - preroll")
            assert abs(reported - target) < 1000, (again, target)
            await page.evaluate(f"{PLAYER}.stop()")
            assert page.errors == [], page.errors
