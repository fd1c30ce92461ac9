"""Enrolled wall displays through a running gateway (SQLite and PostgreSQL): enrolling, listing and
revoking as an administrator, the display's token acting as a viewer, the access-log entries, a
display that keeps working after a person's sign-in has expired, and a revocation ending the
display's live WHEP session (real aiortc peer, real GStreamer camera) within the check interval."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.clock import ManualClock
from core.config import CameraConfig
from gateway.http.auth import DISPLAY_REVOKED
from tests.fixtures_camera import CameraServer
from tests.gatewayutil import Client, make_settings, running_gateway
from tests.test_api_accesslog import entries
from tests.test_whep import FAST, Viewer, wait_online
from webrtc.sessions import SIGN_IN_CHECK_S

log = logging.getLogger(__name__)

PASSWORD = "password-123"
# A disabled camera costs nothing to run; a viewer sees the lobby only.
CAMERAS = [
    CameraConfig(id="lobby", source="demo://pattern", groups=["indoor"], enabled=False),
    CameraConfig(id="gate", source="demo://pattern", groups=["gates"], enabled=False),
]
ACCESS = {"access": {"visibility": {"viewer": ["indoor"], "operator": ["*"], "admin": ["*"]}}}


async def call(client: Client, method: str, path: str, token: str | None, status: int,
               json_body: Any = None) -> Any:
    """`method` on `path` answers `status`; an error is problem+json. Returns the JSON body."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with client.http.request(method, client.url(path), headers=headers, json=json_body) as resp:
        body = await resp.json(content_type=None)
        assert resp.status == status, (method, path, resp.status, body)
        if status >= 400:
            assert resp.content_type == "application/problem+json"
        return body


async def test_enrol_list_revoke_and_the_display_acts_as_a_viewer(tmp_path: Path, db_url: str) -> None:
    async with running_gateway(make_settings(tmp_path, db_url, CAMERAS, **ACCESS)) as client:
        services = client.gateway.services
        assert services is not None
        admin = await client.sign_in("admin", client.admin_password())
        await services.users.add("vera", "viewer", PASSWORD)
        await services.users.add("omar", "operator", PASSWORD)
        vera, omar = await client.sign_in("vera", PASSWORD), await client.sign_in("omar", PASSWORD)

        # Only an administrator enrols, lists and revokes.
        await call(client, "POST", "/api/v1/displays", None, 401, {"name": "Wall 1"})
        for token in (vera, omar):
            await call(client, "POST", "/api/v1/displays", token, 403, {"name": "Wall 1"})
            await call(client, "GET", "/api/v1/displays", token, 403)
        async with client.http.post(client.url("/api/v1/displays"), json={"name": " Wall 1 "},
                                    headers={"Authorization": f"Bearer {admin}"}) as resp:
            enrolled = await resp.json()
            assert resp.status == 201, enrolled
            assert resp.headers["Cache-Control"] == "no-store"
        token = enrolled["token"]
        assert token.startswith("ptd_") and len(token) > 40
        assert enrolled["url"] == f"/#display={token}"
        assert {k: enrolled[k] for k in ("name", "state", "created_by", "revoked_at", "last_used_at")} == {
            "name": "Wall 1", "state": "active", "created_by": "admin", "revoked_at": None, "last_used_at": None}

        # A taken name (revoked ones too, below) is 409; a bad one 400.
        await call(client, "POST", "/api/v1/displays", admin, 409, {"name": "Wall 1"})
        for bad in ["", "   ", "x" * 57, "line\nbreak", "tab\there", "bell\x07"]:
            await call(client, "POST", "/api/v1/displays", admin, 400, {"name": bad})
        await call(client, "POST", "/api/v1/displays", admin, 400, {"name": 42})
        await call(client, "POST", "/api/v1/displays", admin, 400, {})
        assert (await call(client, "POST", "/api/v1/displays", admin, 201, {"name": "Ruang kontrol · layar 2"}))[
            "name"] == "Ruang kontrol · layar 2"

        listed = await call(client, "GET", "/api/v1/displays", admin, 200)
        assert [d["name"] for d in listed["displays"]] == ["Wall 1", "Ruang kontrol · layar 2"]
        assert token not in json.dumps(listed) and all("token" not in d for d in listed["displays"])

        # The display is a viewer: it sees the lobby and nothing it may not; it cannot administer.
        cams = await call(client, "GET", "/api/v1/cameras", token, 200)
        assert [c["id"] for c in cams["cameras"]] == ["lobby"]
        await call(client, "GET", "/api/v1/cameras/gate", token, 404)
        await call(client, "GET", "/api/v1/displays", token, 403)
        await call(client, "POST", "/api/v1/displays", token, 403, {"name": "Wall 9"})
        await call(client, "GET", "/api/v1/access-log", token, 403)
        assert await call(client, "GET", "/api/v1/session", token, 200) == {
            "username": "display:Wall 1", "role": "viewer", "display": {"id": enrolled["id"], "name": "Wall 1"}}
        assert (await call(client, "GET", "/api/v1/session", vera, 200))["display"] is None
        await call(client, "DELETE", "/api/v1/session", token, 400)  # a display does not sign out
        used = next(d for d in (await call(client, "GET", "/api/v1/displays", admin, 200))["displays"]
                    if d["id"] == enrolled["id"])
        assert used["last_used_at"] is not None

        # Revoking: administrators only, with a reason; unknown 404, twice 409.
        path = f"/api/v1/displays/{enrolled['id']}/revocation"
        await call(client, "POST", path, vera, 403, {"reason": "stolen"})
        await call(client, "POST", path, token, 403, {"reason": "stolen"})
        await call(client, "POST", "/api/v1/displays/no-such-display/revocation", admin, 404, {"reason": "x"})
        await call(client, "POST", path, admin, 400, {"reason": "  "})
        await call(client, "POST", path, admin, 400, {})
        revoked = await call(client, "POST", path, admin, 201, {"reason": "screen replaced"})
        assert {k: revoked[k] for k in ("state", "revoked_by", "revoke_reason")} == {
            "state": "revoked", "revoked_by": "admin", "revoke_reason": "screen replaced"}
        await call(client, "POST", path, admin, 409, {"reason": "again"})
        await call(client, "GET", "/api/v1/cameras", token, 401)
        await call(client, "GET", "/api/v1/session", token, 401)
        await call(client, "POST", "/api/v1/displays", admin, 409, {"name": "Wall 1"})  # the record keeps its name
        await call(client, "GET", "/api/v1/cameras", vera, 200)  # people are untouched

        log = [e["payload"] for e in await entries(client, admin)]

    def of(action: str) -> list[dict[str, Any]]:
        return [e for e in log if e["action"] == action]

    assert [(e["actor"], e["details"]["display"], e["details"]["display_id"]) for e in of("display_enrolled")] == [
        ("admin", "Wall 1", enrolled["id"]), ("admin", "Ruang kontrol · layar 2", listed["displays"][1]["id"])]
    assert [(e["actor"], e["reason"], e["details"]["display_id"]) for e in of("display_revoked")] == [
        ("admin", "screen replaced", enrolled["id"])]
    # Many requests, one use: the first since start, with the address it came from.
    assert [(e["actor"], e["role"], e["client"], e["details"]["display_id"], e["details"]["idle_s"])
            for e in of("display_used")] == [("display:Wall 1", "viewer", "127.0.0.1", enrolled["id"], None)]
    denied = [(e["actor"], e["details"]["action"]) for e in of("decision") if e["outcome"] == "deny"]
    assert ("display:Wall 1", "administer") in denied and ("display:Wall 1", "read_access_log") in denied
    assert ("vera", "administer") in denied and ("omar", "administer") in denied
    assert all("ptd_" not in json.dumps(e) for e in log)  # no display token ever logged


async def test_a_display_outlives_a_persons_sign_in(tmp_path: Path, db_url: str) -> None:
    clock = ManualClock()
    settings = make_settings(tmp_path, db_url, CAMERAS, auth={"session_ttl_s": 60}, **ACCESS)
    async with running_gateway(settings, clock) as client:
        admin = await client.sign_in("admin", client.admin_password())
        enrolled = await call(client, "POST", "/api/v1/displays", admin, 201, {"name": "Wall 1"})
        display = enrolled["token"]
        await call(client, "GET", "/api/v1/cameras", display, 200)
        first_use = (await call(client, "GET", "/api/v1/displays", admin, 200))["displays"][0]["last_used_at"]

        clock.advance(30)  # within a minute: the wall's polls leave last_used_at alone
        await call(client, "GET", "/api/v1/cameras", display, 200)
        assert (await call(client, "GET", "/api/v1/displays", admin, 200))["displays"][0]["last_used_at"] == first_use

        clock.advance(31)  # the person's 60 s sign-in has ended; the display's enrolment has not
        await call(client, "GET", "/api/v1/cameras", admin, 401)
        for _ in range(3):
            await call(client, "GET", "/api/v1/cameras", display, 200)

        clock.advance(8 * 3600)  # a whole shift later the wall still runs
        await call(client, "GET", "/api/v1/cameras", display, 200)
        admin = await client.sign_in("admin", client.admin_password())
        listed = (await call(client, "GET", "/api/v1/displays", admin, 200))["displays"][0]
        assert listed["last_used_at"] > first_use and listed["state"] == "active"
        used = await call(client, "GET", "/api/v1/access-log?action=display_used", admin, 200)
    # The first use, then one after the pause over a minute (pauses of 30 and 31 s are none); not
    # one per request.
    assert [e["payload"]["details"]["idle_s"] for e in used["entries"]] == [None, 28800.0]


async def test_revoking_a_display_ends_its_live_session_within_the_check_interval(
    tmp_path: Path, db_url: str, camera_server: Callable[..., CameraServer]
) -> None:
    server = camera_server({"live": "ball"})
    cams = [CameraConfig(id="gate", name="Gate", source=server.url("live"), **FAST)]
    async with running_gateway(make_settings(tmp_path, db_url, cams)) as client:
        services = client.gateway.services
        assert services is not None
        admin = await client.sign_in("admin", client.admin_password())
        enrolled = await call(client, "POST", "/api/v1/displays", admin, 201, {"name": "Wall 1"})
        await wait_online(client, admin, "gate")
        wall, person = Viewer(), Viewer()
        try:
            await wall.connect(client, "gate", enrolled["token"])
            await person.connect(client, "gate", admin)
            await asyncio.gather(wall.first_frame(within=5), person.first_frame(within=5))
            assert services.webrtc.viewers("gate") == 2
            session = services.webrtc.get(wall.location.rsplit("/", 1)[1])
            assert session is not None and session.owner == "display:Wall 1"
            await call(client, "POST", f"/api/v1/displays/{enrolled['id']}/revocation", admin, 201,
                       {"reason": "moved to the lobby"})
            revoked = time.monotonic()
            await asyncio.wait_for(session.closed.wait(), 10)  # closed: LIVE_STOP is written
            took = time.monotonic() - revoked
            log.warning("display revoked -> its live session ended: %.2f s", took)
            assert services.webrtc.viewers("gate") == 1 and session.reason == DISPLAY_REVOKED
            assert took < SIGN_IN_CHECK_S + 1.5  # measured 4.95-5.02 s: revoked right after the start,
            # the first check (SIGN_IN_CHECK_S after it) ends it
            # The person's session goes on; the display cannot open another.
            await asyncio.wait_for((await person.track).recv(), 3)
            again = Viewer()
            try:
                offer = await again.offer()
                async with client.http.post(client.url("/whep/live/gate"), data=offer, headers={
                        "Authorization": f"Bearer {enrolled['token']}", "Content-Type": "application/sdp"}) as resp:
                    assert resp.status == 401
            finally:
                await again.close()
        finally:
            await asyncio.gather(wall.close(), person.close())
        starts = await call(client, "GET", "/api/v1/access-log?action=live_start&actor=display:Wall 1", admin, 200)
        stops = await call(client, "GET", "/api/v1/access-log?action=live_stop&actor=display:Wall 1", admin, 200)
    assert [(e["payload"]["camera"], e["payload"]["role"]) for e in starts["entries"]] == [("gate", "viewer")]
    assert [e["payload"]["reason"] for e in stops["entries"]] == [DISPLAY_REVOKED]
