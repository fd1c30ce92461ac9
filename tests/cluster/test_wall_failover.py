"""The wall follows a camera to the node that ingests it, in Debian's headless Chromium: two nodes on
one PostgreSQL (node A in the test's loop, node B a `pantau serve` it can kill) share two real test
cameras, each with exactly one RTSP session from the cluster (the camera server counts them). The
wall page served by node A plays node B's camera from node B (the owner's URL from the API, A's origin
allowed by B, the bearer token shared through the database); after kill -9 of node B the same page
plays that camera again from node A within lease_s and a few seconds, without a reload.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cluster.leases import lease_counts
from core.config import CameraConfig
from tests.browser import chromium
from tests.cluster.test_failover import CLUSTER, LEASE_S, RECORDING, _counts_are, leases, node_b, wait_for
from tests.fixtures_camera import CameraServer, free_port
from tests.gatewayutil import make_settings, running_gateway
from tests.test_browser_wall import need_chromium, sign_in

CAMERAS = ["w0", "w1"]
# From kill -9 to the tile playing again: the lease runs out (lease_s), the survivor's next round
# takes it (a renewal), its source connects and the wall's poll or its failed peer's re-read (3 s)
# sees the new owner; a few seconds more for the browser's new session to decode.
REPLAY_BOUND_S = LEASE_S + 8.0

# One tile's peer: decoded frames, the video's clock, and which node its session went to.
TILE = """(async (id) => {{
  const tile = document.getElementById('cam-' + id);
  if (!tile || !tile.pc) return null;
  let frames = 0;
  (await tile.pc.getStats()).forEach(r => {{ if (r.type === 'inbound-rtp' && r.kind === 'video') frames = r.framesDecoded || 0; }});
  return {{frames, time: tile.querySelector('video').currentTime, url: tile.tile.camera.live_url,
           badge: tile.querySelector('.badge').textContent, same: tile.pc === window.__killedPc}};
}})({camera})"""


async def tile(page: object, camera: str) -> dict[str, object] | None:
    return await page.evaluate(TILE.format(camera=json.dumps(camera)))  # type: ignore[attr-defined,no-any-return]


@pytest.mark.timeout(150)
async def test_the_wall_plays_a_camera_from_its_owner_and_again_from_the_survivor_after_a_kill_9(
    tmp_path: Path, pg_url: str, db: async_sessionmaker[AsyncSession],  # noqa: F811
    camera_server: Callable[..., CameraServer],
) -> None:
    need_chromium()
    server = camera_server({cam: "ball+gop25+shared" for cam in CAMERAS}, size="320x180", bitrate=300)
    cameras = [CameraConfig(id=cam, source=server.url(cam)) for cam in CAMERAS]
    port_a, port_b = free_port(), free_port()
    url_a, url_b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    settings = make_settings(tmp_path / "a", pg_url, cameras, recording=RECORDING, server={"port": port_a},
                             cluster={"node_id": "node-a", "advertise_url": url_a, **CLUSTER})
    log = tmp_path / "b" / "gateway.log"
    async with running_gateway(settings) as client, chromium() as page:
        with node_b(tmp_path, pg_url, cameras, port=port_b) as proc:
            await wait_for(lambda: _counts_are(db, {"node-a": 1, "node-b": 1}), 40, "one camera each", log)
            held = await leases(db)
            on_b = next(cam for cam in CAMERAS if held[cam].owner == "node-b")
            on_a = next(cam for cam in CAMERAS if held[cam].owner == "node-a")
            # Exactly one RTSP session per camera from the two nodes (the one that gave a camera up closed it).
            await wait_for(lambda: server.sessions() == {cam: 1 for cam in CAMERAS}, 10,
                           f"one session per camera: {server.sessions()}", log)

            # Node A reads who owns what every renew_s: the page loads once A points at B for on_b.
            token = await client.sign_in("admin", client.admin_password())

            async def a_points_at_b() -> bool:
                listed = await client.get_json("/api/v1/cameras", token)
                return any(c["id"] == on_b and c["live_url"] == f"{url_b}/whep/live/{on_b}" for c in listed["cameras"])

            await wait_for(a_points_at_b, 10, f"node A sends {on_b}'s viewers to node B", log)
            await page.goto(client.url("/"))
            await page.evaluate("localStorage.clear(); localStorage.setItem('pantau.wall.layout', '4')")
            await sign_in(page, "admin", client.admin_password())
            before = await page.wait_for(f"(async () => {{ const t = await {TILE.format(camera=json.dumps(on_b))};"
                                         " return t && t.frames > 10 && t.time > 0 && t; })()", within_s=30)
            # "Other node" as polled from node A, or "Online" as node B's camera.online alert said.
            assert before["url"] == f"{url_b}/whep/live/{on_b}" and before["badge"] in ("Other node", "Online"), before
            await asyncio.sleep(1.0)
            later = await tile(page, on_b)
            assert later is not None and later["frames"] > before["frames"]  # type: ignore[operator]
            # Its session was opened on node B (the page's own origin is node A's).
            posted = await page.evaluate("performance.getEntriesByType('resource').map(e => e.name)"
                                         ".filter(n => n.includes('/whep/live/'))")
            assert f"{url_b}/whep/live/{on_b}" in posted and f"{url_a}/whep/live/{on_b}" not in posted, posted
            assert await page.wait_for(f"(async () => {{ const t = await {TILE.format(camera=json.dumps(on_a))};"
                                       " return t && t.frames > 0; })()", within_s=20)

            await page.evaluate(f"window.__killedPc = document.getElementById('cam-{on_b}').pc; window.__noReload = 1")
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            killed = time.monotonic()
            again = await page.wait_for(
                f"(async () => {{ const t = await {TILE.format(camera=json.dumps(on_b))};"
                " return t && !t.same && t.frames > 10 && t.time > 0 && t; })()", within_s=REPLAY_BOUND_S + 10)
            took = time.monotonic() - killed
            assert await page.evaluate("window.__noReload") == 1  # the same page, never reloaded
            assert again["url"] == f"/whep/live/{on_b}" and again["badge"] == "Online", again
            assert took <= REPLAY_BOUND_S, f"the wall played {on_b} again after {took:.1f} s (bound {REPLAY_BOUND_S:g} s)"
            await asyncio.sleep(1.0)
            still = await tile(page, on_b)
            assert still is not None and still["frames"] > again["frames"]  # type: ignore[operator]
            assert await lease_counts(db) == {"node-a": 2}
            # B's sessions died with it; A opened one for the camera it took: still one each.
            await wait_for(lambda: server.sessions() == {cam: 1 for cam in CAMERAS}, 10,
                           f"one session per camera after the failover: {server.sessions()}")
            print(f"wall failover: {on_b} played again from node A {took:.1f} s after kill -9 of node B "
                  f"(bound {REPLAY_BOUND_S:g} s)")

