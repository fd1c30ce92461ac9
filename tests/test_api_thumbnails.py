"""GET /api/v1/recordings/thumbnails end to end on SQLite and PostgreSQL: a real gateway whose own
recorder wrote, sealed and indexed the recording (played into an idle camera faster than real time:
tests/fastrecording.py), the policy deciding as for replaying the window, and the access log.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import cv2
import numpy as np
import pytest
import pytest_asyncio

from core.config import CameraConfig
from core.utctime import format_utc as z
from core.utctime import parse_rfc3339 as when
from streams.state import CameraState
from tests.fastrecording import encode, feed, idle_camera
from tests.gatewayutil import Client, call, make_settings, running_gateway, until

pytestmark = [pytest.mark.asyncio(loop_scope="module")]

PASSWORD = "password-123"
RECORDED_S = 30
# Operators replay the last hour of the gate cameras; viewers replay nothing; the vault is hidden.
ACCESS = {"visibility": {"viewer": ["gates"], "operator": ["gates"], "supervisor": ["*"], "admin": ["*"],
                         "auditor": ["*"]},
          "playback": {"operator": {"groups": ["gates"], "max_age_h": 1}, "admin": {"groups": ["*"]}}}


@dataclass
class Env:
    client: Client
    admin: str
    ops: str
    view: str
    start: datetime
    end: datetime


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory, module_db_url: str) -> AsyncIterator[Env]:
    tmp: Path = tmp_path_factory.mktemp("thumbs")
    gate = idle_camera("gate").model_copy(update={"groups": ["gates"]})
    vault = CameraConfig(id="vault", source="rtsp://127.0.0.1:9/x", groups=["vault"], enabled=False)
    settings = make_settings(tmp, module_db_url, [gate, vault], recording={"segment_s": 10, "min_free_bytes": 0},
                             access=ACCESS)
    stream = await asyncio.to_thread(encode, RECORDED_S, 10, (320, 180), 1.0)
    async with running_gateway(settings) as client:
        services = client.gateway.services
        assert services is not None
        cam = services.cameras["gate"]

        async def listening() -> bool:
            # The recorder subscribes after reading its index tail: a packet fed before is lost.
            return cam.status.state is CameraState.OFFLINE and any(
                s.name == "recorder-gate" for s in cam.hub._subscribers)

        await until(listening, 15, "the idle camera, the recorder listening")
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
        end = await feed(cam.hub, stream, start)
        admin = await client.sign_in("admin", client.admin_password())
        for name, role in [("ops", "operator"), ("view", "viewer")]:
            await services.users.add(name, role, PASSWORD)
        ops, view = [await client.sign_in(n, PASSWORD) for n in ("ops", "view")]

        async def sealed() -> bool:
            body = await client.get_json(f"/api/v1/recordings?camera=gate&start={quote(z(start))}"
                                         f"&end={quote(z(datetime.now(UTC)))}", admin)
            return bool(body["segments"]) and body["segments"][-1]["end"] == z(end)

        await until(sealed, 30, "the fed recording sealed and indexed")
        yield Env(client, admin, ops, view, start, end)


def path(camera: str, start: datetime, end: datetime, count: int | str) -> str:
    return f"/api/v1/recordings/thumbnails?camera={camera}&start={quote(z(start))}&end={quote(z(end))}&count={count}"


async def log_after(env: Env, after: int) -> list[dict[str, Any]]:
    """Every access-log entry after sequence number `after`, with its seq."""
    out: list[dict[str, Any]] = []
    while True:
        body = await env.client.get_json(f"/api/v1/access-log?after={after}&limit=1000", env.admin)
        out += [{"seq": e["seq"], **e["payload"]} for e in body["entries"]]
        if body["next_after"] is None:
            return out
        after = body["next_after"]


async def last_seq(env: Env) -> int:
    entries = await log_after(env, -1)
    return max(e["seq"] for e in entries)


async def test_thumbnails_of_the_recording_one_log_entry_each_and_cached(env: Env) -> None:
    mark = await last_seq(env)
    body = await env.client.get_json(path("gate", env.start, env.end, 6), env.ops)
    assert body["camera"] == "gate" and body["stream"] == "main" and body["skipped"] == []
    assert body["watermark"] is None
    thumbs = body["thumbnails"]
    assert len(thumbs) == 6
    times = [when(t["at"]) for t in thumbs]
    assert times == sorted(times) and env.start <= times[0] and times[-1] < env.end
    # The keyframes are a second apart from the start of the recording: whole seconds after it.
    assert all((t - env.start).total_seconds() == int((t - env.start).total_seconds()) for t in times)
    for thumb in thumbs:
        prefix = "data:image/jpeg;base64,"
        assert thumb["jpeg"].startswith(prefix)
        picture = cv2.imdecode(np.frombuffer(base64.b64decode(thumb["jpeg"][len(prefix):]), np.uint8),
                               cv2.IMREAD_COLOR)
        assert picture is not None and picture.shape == (90, 160, 3)
    logged = await log_after(env, mark)
    assert len(logged) == 1, logged  # one request, one entry
    entry = logged[0]
    assert entry["action"] == "thumbnails" and entry["actor"] == "ops" and entry["camera"] == "gate"
    assert when(entry["start"]) == env.start and when(entry["end"]) == env.end
    assert entry["details"]["count"] == 6 and entry["details"]["thumbnails"] == 6
    assert entry["details"]["decoded"] == 6

    # Again: the same pictures, from the cache (nothing decoded), and one more entry.
    again = await env.client.get_json(path("gate", env.start, env.end, 6), env.ops)
    assert again["thumbnails"] == thumbs
    logged = await log_after(env, mark)
    assert len(logged) == 2 and logged[1]["action"] == "thumbnails" and logged[1]["details"]["decoded"] == 0


async def test_refusals_are_the_replay_rules_and_logged(env: Env) -> None:
    old_start = datetime.now(UTC) - timedelta(hours=3)
    cases = [
        # Older than the operator's max_age_h: replay of that window needs a disposition.
        (env.ops, path("gate", old_start, old_start + timedelta(minutes=30), 4), 403, "playback", "ops"),
        # Viewers have no playback rule.
        (env.view, path("gate", env.start, env.end, 4), 403, "playback", "view"),
        # A camera the operator does not see answers as one that does not exist.
        (env.ops, path("vault", env.start, env.end, 4), 404, "view_camera", "ops"),
    ]
    for token, url, status, action, actor in cases:
        mark = await last_seq(env)
        problem = await call(env.client, "GET", url, token, status)
        assert problem["status"] == status
        logged = await log_after(env, mark)
        assert len(logged) == 1, logged
        entry = logged[0]
        assert entry["action"] == "decision" and entry["outcome"] == "deny", entry
        assert entry["details"]["action"] == action and entry["actor"] == actor
        assert entry["details"]["route"] == "/api/v1/recordings/thumbnails"


@pytest.mark.parametrize("query", [
    "camera=gate&start=2026-01-01T00:00:00Z&end=2026-01-01T01:00:00Z",  # no count
    "camera=gate&start=2026-01-01T00:00:00Z&end=2026-01-01T01:00:00Z&count=0",
    "camera=gate&start=2026-01-01T00:00:00Z&end=2026-01-01T01:00:00Z&count=121",
    "camera=gate&start=2026-01-01T01:00:00Z&end=2026-01-01T00:00:00Z&count=4",
    "camera=gate&start=2026-01-01T00:00:00Z&end=2026-01-03T00:00:00Z&count=4",
    "camera=gate&start=2026-01-01T00:00:00&end=2026-01-01T01:00:00Z&count=4",  # no zone
    "start=2026-01-01T00:00:00Z&end=2026-01-01T01:00:00Z&count=4",
])
async def test_bad_requests(env: Env, query: str) -> None:
    await call(env.client, "GET", f"/api/v1/recordings/thumbnails?{query}", env.ops, 400)
