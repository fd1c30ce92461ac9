"""The RTSP restream of one node serves the cameras another node ingests (restream/relay.py), on a real
PostgreSQL with real test cameras and ffmpeg as the NVR: node A (in the test's loop, restream on) and
node B (`pantau serve`) hold two cameras each; A's restream plays all four. A camera B holds is pulled
by A only while a client watches it (the camera server counts the sessions), A says nothing about its
state (it stays remote there, its lease stays B's), and the relay is let go after relay_idle_s."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.config import CameraConfig
from streams.state import CameraState
from tests.cluster.test_failover import CLUSTER, RECORDING, leases, node_b, settle_two_ways, wait_for
from tests.fixtures_camera import CameraServer, free_port
from tests.gatewayutil import make_settings, running_gateway
from tests.restream.test_rtsp_restream import PASSWORD, ffmpeg, frames_in

CAMERAS = [f"c{n}" for n in range(4)]
IDLE_S = 2.0


@pytest.mark.timeout(150)
async def test_a_nodes_restream_plays_the_cameras_another_node_ingests(
    tmp_path: Path, pg_url: str, db: async_sessionmaker[AsyncSession], camera_server: Callable[..., CameraServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = camera_server({cam: "ball+gop25+shared" for cam in CAMERAS}, size="320x180", bitrate=300)
    cameras = [CameraConfig(id=cam, source=server.url(cam)) for cam in CAMERAS]
    port = free_port()
    settings = make_settings(
        tmp_path / "a", pg_url, cameras, recording=RECORDING, cluster={"node_id": "node-a", **CLUSTER},
        restream={"rtsp": {"enabled": True, "host": "127.0.0.1", "port": port, "relay_idle_s": IDLE_S}},
        access={"visibility": {"admin": ["*"], "integrator": ["*"]}},
    )
    log = tmp_path / "b" / "gateway.log"
    caplog.set_level(logging.INFO, "restream.relay")
    async with running_gateway(settings) as client:
        services = client.gateway.services
        assert services is not None
        await services.users.add("nvr", "integrator", PASSWORD)
        with node_b(tmp_path, pg_url, cameras):
            await settle_two_ways(db, log)
            held = {cam: lease.owner for cam, lease in (await leases(db)).items()}
            remote = sorted(cam for cam, owner in held.items() if owner == "node-b")
            assert len(remote) == 2
            def all_remote() -> bool:
                return all(services.cameras[cam].status.state is CameraState.REMOTE for cam in remote)

            await wait_for(all_remote, 10, "B's cameras remote on A", log)
            assert all(server.sessions().get(cam) == 1 for cam in CAMERAS), server.sessions()

            # An NVR pulls all four from A's restream at once: A's own two, and B's two through relays.
            url = f"rtsp://nvr:{PASSWORD}@127.0.0.1:{port}"
            outs = {cam: tmp_path / f"{cam}.mp4" for cam in CAMERAS}
            pulls = [asyncio.create_task(ffmpeg("-v", "error", "-rtsp_transport", "tcp", "-i", f"{url}/{cam}",
                                                "-t", "6", "-c", "copy", "-y", str(outs[cam])))
                     for cam in CAMERAS]
            # While they play, B's cameras have two sessions at the camera (B's and A's relay), A's one.
            await wait_for(lambda: all(server.sessions().get(cam) == 2 for cam in remote), 15,
                           "relays open at the camera", log)
            assert all(server.sessions().get(cam) == 1 for cam in CAMERAS if cam not in remote), server.sessions()
            for cam, (rc, err) in zip(CAMERAS, await asyncio.gather(*pulls), strict=True):
                assert rc == 0, (cam, err)
                frames = await frames_in(outs[cam])
                assert frames >= 6 * 25 * 0.8, (cam, frames)
            # A told nobody anything about B's cameras: still remote there, still B's.
            assert all_remote()
            assert {cam: lease.owner for cam, lease in (await leases(db)).items()} == held
            # Nobody watches: the relays are let go after relay_idle_s, and the camera has B's session only.
            await wait_for(lambda: all(server.sessions().get(cam) == 1 for cam in remote), IDLE_S + 10,
                           "relays let go", log)
    said = [r.getMessage() for r in caplog.records if r.name == "restream.relay"]
    assert sum("relaying it here" in m for m in said) == 2 and sum("let go" in m for m in said) == 2, said
