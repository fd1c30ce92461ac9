"""Replay and copies follow camera visibility end to end (issue 20): an operator whose `visibility`
excludes a camera gets 404 for it on WHEP playback and on export jobs, as on the camera's detail and
live view, and each refusal is in the access log; a camera it sees passes the policy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import pytest_asyncio

from core.config import CameraConfig
from core.utctime import format_utc as z
from tests.gatewayutil import Client, call, make_settings, running_gateway

pytestmark = [pytest.mark.asyncio(loop_scope="module")]

PASSWORD = "password-123"
# The operator's replay and copy rules cover every camera; its visibility covers the gates only.
ACCESS = {"visibility": {"operator": ["gates"], "admin": ["*"], "auditor": ["*"]},
          "playback": {"operator": {"groups": ["*"]}}, "export": {"operator": {"groups": ["*"]}}}
# Nothing listens on port 9: the cameras never connect, and the policy needs none of their video.
GATE = CameraConfig(id="gate", source="rtsp://127.0.0.1:9/gate", groups=["gates"], enabled=False)
VAULT = CameraConfig(id="vault", source="rtsp://127.0.0.1:9/vault", groups=["vault"], enabled=False)


@dataclass
class Env:
    client: Client
    admin: str
    ops: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory, module_db_url: str) -> AsyncIterator[Env]:
    tmp: Path = tmp_path_factory.mktemp("replayvis")
    settings = make_settings(tmp, module_db_url, [GATE, VAULT], access=ACCESS)
    async with running_gateway(settings) as client:
        services = client.gateway.services
        assert services is not None
        await services.users.add("ops", "operator", PASSWORD)
        yield Env(client, await client.sign_in("admin", client.admin_password()), await client.sign_in("ops", PASSWORD))


async def decisions(env: Env, route: str) -> list[dict[str, Any]]:
    """The access log's decisions on `route`."""
    out: list[dict[str, Any]] = []
    after = -1
    while True:
        body = await env.client.get_json(f"/api/v1/access-log?after={after}&limit=1000", env.admin)
        out += [e["payload"] for e in body["entries"]
                if e["payload"].get("details", {}).get("route") == route and "outcome" in e["payload"]]
        if body["next_after"] is None:
            return out
        after = body["next_after"]


def window() -> tuple[str, str]:
    end = datetime.now(UTC).replace(microsecond=0)
    return quote(z(end - timedelta(minutes=10))), quote(z(end))


async def test_playback_of_an_invisible_camera_is_404_and_logged(env: Env) -> None:
    start, end = window()
    # The other routes hide the camera from this operator.
    await call(env.client, "GET", "/api/v1/cameras/vault", env.ops, 404)
    await call(env.client, "POST", "/whep/live/vault", env.ops, 404, data="v=0\r\n",
               headers={"Content-Type": "application/sdp"})
    body = await call(env.client, "POST", f"/whep/playback/vault?start={start}&end={end}", env.ops, 404,
                      data="v=0\r\n", headers={"Content-Type": "application/sdp"})
    assert "vault" in body["detail"]
    refused = await decisions(env, "/whep/playback/vault")
    assert [(e["actor"], e["outcome"], e["camera"]) for e in refused] == [("ops", "deny", "vault")]
    assert "does not see camera" in refused[0]["reason"]
    # A camera it sees passes the policy (the made-up offer is what is refused then, not the camera).
    seen = await call(env.client, "POST", f"/whep/playback/gate?start={start}&end={end}", env.ops, 400,
                      data="v=0\r\n", headers={"Content-Type": "application/sdp"})
    assert "policy" not in seen["detail"]
    assert [e["outcome"] for e in await decisions(env, "/whep/playback/gate")] == ["allow"]


async def test_export_of_an_invisible_camera_is_404_and_logged(env: Env) -> None:
    end = datetime.now(UTC).replace(microsecond=0)
    job = {"start": z(end - timedelta(minutes=10)), "end": z(end), "reason": "police request"}
    await call(env.client, "POST", "/api/v1/exports", env.ops, 404, json={"cameras": ["vault"], **job})
    await call(env.client, "POST", "/api/v1/exports", env.ops, 404, json={"cameras": ["gate", "vault"], **job})
    refused = [e for e in await decisions(env, "/api/v1/exports") if e["camera"] == "vault"]
    assert [(e["actor"], e["outcome"]) for e in refused] == [("ops", "deny"), ("ops", "deny")]
    assert all("does not see camera" in e["reason"] for e in refused)
