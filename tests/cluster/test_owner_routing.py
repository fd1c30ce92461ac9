"""Ingest follows the lease, and any node answers for any camera: on a real PostgreSQL with real test
cameras, node A shares the database with two other "nodes" that are only rows (one registered with an
advertised URL, one never registered), each holding a camera's lease for an hour. Node A opens an RTSP
session only to the camera it holds (the camera server counts them); it lists the others as remote with
their owner, redirects their live WHEP to the owner (307, same path and query) or answers 503 while
the owner cannot be reached; it allows the registered node's origin in CORS; and once a lease is
released it takes the camera and opens its source.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import prometheus_client.parser
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.config import CameraConfig
from tests.fixtures_camera import CameraServer, free_port
from tests.gatewayutil import Client, make_settings, running_gateway, until

GHOST_URL = "http://127.0.0.1:9"  # node-x's advertised URL: nothing listens there (discard port)
CLUSTER = {"lease_s": 4.0, "renew_s": 1.0}
SDP = {"Content-Type": "application/sdp"}


async def execute(db: async_sessionmaker[AsyncSession], sql: str, **params: Any) -> None:
    async with db() as session:
        await session.execute(text(sql), params)
        await session.commit()


async def hold_for_an_hour(db: async_sessionmaker[AsyncSession], camera: str, owner: str) -> None:
    await execute(db, "INSERT INTO camera_leases (camera_id, owner, epoch, acquired_at, renewed_at, expires_at) "
                      "VALUES (:camera, :owner, 1, now(), now(), now() + interval '1 hour')", camera=camera, owner=owner)


async def cameras_by_id(client: Client, token: str) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in (await client.get_json("/api/v1/cameras", token))["cameras"]}


@pytest.mark.timeout(90)
async def test_a_node_ingests_only_what_it_holds_and_points_viewers_at_the_owner(
    tmp_path: Any, pg_url: str, db: async_sessionmaker[AsyncSession], camera_server: Callable[..., CameraServer],
) -> None:
    server = camera_server({c: "ball+gop25+shared" for c in ("c1", "c2", "c3")}, size="320x180", bitrate=300)
    await execute(db, "INSERT INTO nodes (node_id, url, capacity, started_at, heartbeat_at) "
                      "VALUES ('node-x', :url, 8, now(), now())", url=GHOST_URL)
    await hold_for_an_hour(db, "c1", "node-x")
    await hold_for_an_hour(db, "c2", "node-gone")  # an owner that never registered: no URL to send viewers to
    port = free_port()
    settings = make_settings(
        tmp_path, pg_url, [CameraConfig(id=c, source=server.url(c)) for c in ("c1", "c2", "c3")],
        server={"port": port}, cluster={"node_id": "node-a", "advertise_url": f"http://127.0.0.1:{port}", **CLUSTER},
    )
    async with running_gateway(settings) as client:
        token = await client.sign_in("admin", client.admin_password())
        auth = {"Authorization": f"Bearer {token}"}
        await until(lambda: server.sessions() == {"c3": 1}, 15, "one RTSP session, to the camera node A holds")
        cams = await until(lambda: _listed(client, token), 10, "c3 online")
        assert cams["c1"]["state"] == "remote"
        assert cams["c1"]["node"] == {"id": "node-x", "url": GHOST_URL, "here": False}
        assert cams["c1"]["live_url"] == f"{GHOST_URL}/whep/live/c1"
        assert (cams["c2"]["state"], cams["c2"]["node"], cams["c2"]["live_url"]) == ("remote", None, None)
        assert cams["c3"]["node"] == {"id": "node-a", "url": f"http://127.0.0.1:{port}", "here": True}
        assert cams["c3"]["live_url"] == "/whep/live/c3"

        async with client.http.post(client.url("/whep/live/c1?stream=main"), data="v=0\r\n", headers={**SDP, **auth},
                                    allow_redirects=False) as resp:
            assert resp.status == 307, await resp.text()
            assert resp.headers["Location"] == f"{GHOST_URL}/whep/live/c1?stream=main"
        async with client.http.post(client.url("/whep/live/c2"), data="v=0\r\n", headers={**SDP, **auth}) as resp:
            body = await resp.json(content_type=None)
            assert resp.status == 503 and body["type"] == "urn:pantau:problem:unavailable", body
            assert int(resp.headers["Retry-After"]) >= 1
        # A viewer without the right to the camera learns nothing of where it is.
        async with client.http.post(client.url("/whep/live/c1"), data="v=0\r\n", headers=SDP,
                                    allow_redirects=False) as resp:
            assert resp.status == 401

        health = await client.get_json("/health", token)
        state = {c["componentId"]: c for c in health["checks"]["camera:state"]}
        assert state["c1"]["status"] == "pass" and state["c1"]["observedValue"] == "remote"
        assert state["c1"]["output"] == f"ingested by node node-x ({GHOST_URL})"
        assert state["c2"]["output"].startswith("no node holds its lease right now")
        assert state["c2"]["status"] == "warn"  # nobody records it

        # Per node metrics: who answers, the leases per node as read here (every renew_s), the keeper's reach.
        async def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
            async with client.http.get(client.url("/metrics"), headers=auth) as resp:
                return {(s.name, tuple(sorted(s.labels.items()))): s.value
                        for f in prometheus_client.parser.text_string_to_metric_families(await resp.text())
                        for s in f.samples}

        def per_node(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[str, float]:
            return {labels[0][1]: v for (name, labels), v in samples.items() if name == "pantau_cluster_node_cameras"}

        async def read_all() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
            samples = await scrape()
            return samples if per_node(samples) == {"node-a": 1, "node-x": 1, "node-gone": 1} else None

        samples = await until(read_all, 5, "the metrics count each node's cameras")
        assert samples[("pantau_node_info", (("node", "node-a"),))] == 1
        assert samples[("pantau_cluster_nodes", ())] == 2  # node-a and node-x run; node-gone never registered
        assert samples[("pantau_cluster_unowned_cameras", ())] == 0
        assert samples[("pantau_cluster_database_reachable", ())] == 1

        # The registered node's page may call this node (bearer tokens, no credentials); others may not.
        await _preflight(client.http, client.url("/whep/live/c3"), GHOST_URL, "POST", 200)
        await _preflight(client.http, client.url("/whep/sessions/abc"), GHOST_URL, "DELETE", 200)
        await _preflight(client.http, client.url("/whep/live/c3"), "http://evil.example", "POST", 403)
        async with client.http.get(client.url("/api/v1/cameras"), headers={**auth, "Origin": GHOST_URL}) as resp:
            assert resp.headers["Access-Control-Allow-Origin"] == GHOST_URL
            assert "Access-Control-Allow-Credentials" not in resp.headers

        # node-x lets c1 go: node A takes it within a round or two and opens its source.
        await execute(db, "UPDATE camera_leases SET expires_at = now(), renewed_at = now() WHERE camera_id = 'c1'")
        await until(lambda: server.sessions() == {"c1": 1, "c3": 1}, 10, "node A ingests c1 too")
        cams = await until(lambda: _listed(client, token, "c1"), 10, "c1 listed here")
        assert cams["c1"]["live_url"] == "/whep/live/c1"
    # A clean stop closes every source.
    await until(lambda: server.sessions() == {}, 5, "no session left")


async def _listed(client: Client, token: str, here: str = "c3") -> dict[str, dict[str, Any]] | None:
    cams = await cameras_by_id(client, token)
    node = cams[here]["node"]
    return cams if cams[here]["state"] == "online" and node is not None and node["here"] else None


async def _preflight(http: aiohttp.ClientSession, url: str, origin: str, method: str, status: int) -> None:
    headers = {"Origin": origin, "Access-Control-Request-Method": method,
               "Access-Control-Request-Headers": "authorization, content-type"}
    async with http.options(url, headers=headers) as resp:
        assert resp.status == status, (url, origin, resp.status, await resp.text())
        if status == 200:
            assert resp.headers["Access-Control-Allow-Origin"] == origin
