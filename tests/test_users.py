"""User administration through a running gateway (SQLite and PostgreSQL), end to end: an administrator
disables a viewer who is watching live (real aiortc peer, real GStreamer camera), the session ends at
once, the viewer's next request is 401 and their sign-in is refused (logged as `disabled`); enabling
again, a role change at the next request, a new password, the last administrator kept, and every
change a `user_changed` entry. And the `pantau user` commands through the real entry point
(a subprocess) against a gateway's data directory, a disable from the shell ending a running
gateway's live session within the sign-in check interval."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.config import CameraConfig
from gateway.http.auth import SIGNED_OUT
from gateway.http.users import USER_DISABLED
from tests.fixtures_camera import CameraServer
from tests.gatewayutil import Client, make_settings, running_gateway
from tests.test_api_accesslog import entries
from tests.test_whep import FAST, Viewer, wait_online
from webrtc.sessions import SIGN_IN_CHECK_S

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "password-123"
CAMERAS = [CameraConfig(id="lobby", source="demo://pattern", enabled=False)]


async def call(client: Client, method: str, path: str, token: str | None, status: int,
               json_body: Any = None) -> Any:
    """`method` on `path` answers `status`; an error is problem+json. Returns the JSON body (or None)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with client.http.request(method, client.url(path), headers=headers, json=json_body) as resp:
        body = await resp.json(content_type=None) if resp.status != 204 else None
        assert resp.status == status, (method, path, resp.status, body)
        if status >= 400:
            assert resp.content_type == "application/problem+json"
        return body


async def sign_in(client: Client, username: str, password: str, status: int) -> Any:
    return await call(client, "POST", "/api/v1/session", None, status, {"username": username, "password": password})


async def test_disabling_a_viewer_ends_their_live_session_at_once_and_refuses_them(
    tmp_path: Path, db_url: str, camera_server: Callable[..., CameraServer]
) -> None:
    server = camera_server({"live": "ball"})
    cams = [CameraConfig(id="gate", name="Gate", source=server.url("live"), **FAST)]
    async with running_gateway(make_settings(tmp_path, db_url, cams)) as client:
        services = client.gateway.services
        assert services is not None
        admin = await client.sign_in("admin", client.admin_password())
        await services.users.add("vera", "viewer", PASSWORD)
        vera = await client.sign_in("vera", PASSWORD)
        await wait_online(client, admin, "gate")
        watching, other = Viewer(), Viewer()
        try:
            await watching.connect(client, "gate", vera)
            await other.connect(client, "gate", admin)
            await asyncio.gather(watching.first_frame(within=5), other.first_frame(within=5))
            session = services.webrtc.get(watching.location.rsplit("/", 1)[1])
            assert session is not None and session.owner == "vera"

            changed = await call(client, "PATCH", "/api/v1/users/vera", admin, 200, {"enabled": False})
            assert changed["enabled"] is False and changed["role"] == "viewer"
            # Ended before the answer, not at the next sign-in check.
            assert session.closed.is_set() and session.reason == USER_DISABLED
            log.warning("user disabled -> live session closed before the PATCH answered")
            assert services.webrtc.viewers("gate") == 1
            await asyncio.wait_for((await other.track).recv(), 3)  # the admin's session goes on
        finally:
            await asyncio.gather(watching.close(), other.close())
        await call(client, "GET", "/api/v1/cameras", vera, 401)
        refused = await sign_in(client, "vera", PASSWORD, 401)
        assert refused["detail"] == "this account is disabled"
        wrong = await sign_in(client, "vera", "not-the-password", 401)
        assert wrong["detail"] == "unknown user or wrong password"  # nobody else learns it is disabled

        # Enabled again: the old token stays revoked; a new sign-in works.
        assert (await call(client, "PATCH", "/api/v1/users/vera", admin, 200, {"enabled": True}))["enabled"] is True
        await call(client, "GET", "/api/v1/cameras", vera, 401)
        vera = (await sign_in(client, "vera", PASSWORD, 201))["token"]
        await call(client, "GET", "/api/v1/cameras", vera, 200)
        stops = await call(client, "GET", "/api/v1/access-log?action=live_stop&actor=vera", admin, 200)
        failed = await call(client, "GET", "/api/v1/access-log?action=sign_in_failed&actor=vera", admin, 200)
    assert [e["payload"]["reason"] for e in stops["entries"]] == [USER_DISABLED]
    assert [e["payload"]["reason"] for e in failed["entries"]] == ["disabled", "unknown user or wrong password"]


async def test_roles_passwords_the_last_admin_and_the_log(tmp_path: Path, db_url: str) -> None:
    async with running_gateway(make_settings(tmp_path, db_url, CAMERAS)) as client:
        services = client.gateway.services
        assert services is not None
        admin = await client.sign_in("admin", client.admin_password())
        await services.users.add("vera", "viewer", PASSWORD)
        await services.users.add("nvr", "integrator", "nvr-password-1")
        vera = await client.sign_in("vera", PASSWORD)

        listed = (await call(client, "GET", "/api/v1/users", admin, 200))["users"]
        assert [(u["username"], u["role"], u["enabled"]) for u in listed] == [
            ("admin", "admin", True), ("nvr", "integrator", True), ("vera", "viewer", True)]
        by_name = {u["username"]: u for u in listed}
        assert by_name["vera"]["last_sign_in_at"] is not None and by_name["nvr"]["last_sign_in_at"] is None
        assert "password" not in json.dumps(listed) and "scrypt" not in json.dumps(listed)
        await call(client, "GET", "/api/v1/users", vera, 403)
        await call(client, "PATCH", "/api/v1/users/vera", vera, 403, {"role": "admin"})

        # Bad requests, unknown users.
        for body in [{}, {"enabled": "no"}, {"role": 3}, {"role": "king"}, {"enabled": False, "password": "x"}]:
            await call(client, "PATCH", "/api/v1/users/vera", admin, 400, body)
        await call(client, "PATCH", "/api/v1/users/nobody", admin, 404, {"enabled": False})
        await call(client, "POST", "/api/v1/users/nobody/password", admin, 404, {"password": "password-456"})
        await call(client, "POST", "/api/v1/users/vera/password", admin, 400, {"password": "short"})
        await call(client, "POST", "/api/v1/users/vera/password", admin, 400, {"password": 12345678901})
        await call(client, "PATCH", "/api/v1/users/nvr", admin, 400, {"role": "viewer"})
        await call(client, "PATCH", "/api/v1/users/vera", admin, 400, {"role": "integrator"})

        # A role holds from the next request: the same token is an operator's now.
        assert (await call(client, "GET", "/api/v1/session", vera, 200))["role"] == "viewer"
        await call(client, "PATCH", "/api/v1/users/vera", admin, 200, {"role": "operator"})
        assert (await call(client, "GET", "/api/v1/session", vera, 200))["role"] == "operator"
        await call(client, "PATCH", "/api/v1/users/vera", admin, 200, {"role": "operator"})  # nothing changes

        # The last enabled administrator stays one: not disabled, not demoted, by anyone.
        await call(client, "PATCH", "/api/v1/users/admin", admin, 409, {"enabled": False})
        await call(client, "PATCH", "/api/v1/users/admin", admin, 409, {"role": "viewer"})
        await call(client, "PATCH", "/api/v1/users/vera", admin, 200, {"role": "admin"})
        await call(client, "PATCH", "/api/v1/users/vera", vera, 200, {"enabled": False, "role": "admin"})
        await call(client, "GET", "/api/v1/cameras", vera, 401)  # she disabled herself: allowed, another is left
        await call(client, "PATCH", "/api/v1/users/admin", admin, 409, {"role": "operator"})
        await call(client, "PATCH", "/api/v1/users/vera", admin, 200, {"enabled": True})
        vera = await client.sign_in("vera", PASSWORD)
        await call(client, "PATCH", "/api/v1/users/admin", vera, 200, {"role": "supervisor"})
        assert (await call(client, "GET", "/api/v1/session", admin, 200))["role"] == "supervisor"
        await call(client, "GET", "/api/v1/users", admin, 403)

        # A new password: the user's sessions end, the old password is refused, the new one works.
        await call(client, "POST", "/api/v1/users/admin/password", vera, 204, {"password": "password-456"})
        await call(client, "GET", "/api/v1/session", admin, 401)
        await sign_in(client, "admin", client.admin_password(), 401)
        await client.sign_in("admin", "password-456")
        # An integrator's new password is sealed anew for RTSP Digest and ONVIF.
        await call(client, "POST", "/api/v1/users/nvr/password", vera, 204, {"password": "nvr-password-2"})
        assert await services.device_secrets.password("nvr") == "nvr-password-2"

        logged = [e["payload"] for e in await entries(client, vera)]
    changed = [(e["actor"], e["details"]["username"], e["details"]["field"], e["details"]["from"],
                e["details"]["to"], e["details"]["via"]) for e in logged if e["action"] == "user_changed"]
    assert changed == [
        ("admin", "vera", "role", "viewer", "operator", "api"),
        ("admin", "vera", "role", "operator", "admin", "api"),
        ("vera", "vera", "enabled", True, False, "api"),
        ("admin", "vera", "enabled", False, True, "api"),
        ("vera", "admin", "role", "admin", "supervisor", "api"),
        ("vera", "admin", "password", None, None, "api"),
        ("vera", "nvr", "password", None, None, "api"),
    ]
    assert all("password-456" not in json.dumps(e) and "nvr-password-2" not in json.dumps(e) for e in logged)


async def pantau(config: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    """The installed `pantau` entry point in a subprocess (the loop stays free for the gateway)."""
    exe = Path(sys.executable).parent / "pantau"
    proc = await asyncio.create_subprocess_exec(
        str(exe), "--config", str(config), *args, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)})
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin is not None else None), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.timeout(300)  # ten `pantau` commands, each a fresh interpreter (about 3 s apiece on a busy CI)
async def test_the_user_commands_against_a_running_gateway(
    tmp_path: Path, db_url: str, camera_server: Callable[..., CameraServer]
) -> None:
    server = camera_server({"live": "ball"})
    cams = [CameraConfig(id="gate", name="Gate", source=server.url("live"), **FAST)]
    settings = make_settings(tmp_path, db_url, cams)
    config = tmp_path / "pantau.yaml"
    config.write_text(json.dumps({"data_dir": str(settings.data_dir), "database": {"url": db_url}}))
    async with running_gateway(settings) as client:
        admin = await client.sign_in("admin", client.admin_password())
        services = client.gateway.services
        assert services is not None
        code, out, err = await pantau(config, "user", "add", "olga", "--role", "operator", "--password-stdin",
                                      stdin=PASSWORD + "\n")
        assert code == 0, err
        olga = await client.sign_in("olga", PASSWORD)
        code, out, err = await pantau(config, "user", "list")
        assert code == 0, err
        rows = [line.split() for line in out.splitlines()]
        assert rows[0] == ["NAME", "ROLE", "ENABLED", "CREATED", "LAST", "SIGN-IN"]
        assert [r[:3] for r in rows[1:]] == [["admin", "admin", "yes"], ["olga", "operator", "yes"]]
        assert rows[2][4] != "-" and "scrypt" not in out

        await wait_online(client, admin, "gate")
        viewer = Viewer()
        try:
            await viewer.connect(client, "gate", olga)
            await viewer.first_frame(within=5)
            session = services.webrtc.get(viewer.location.rsplit("/", 1)[1])
            assert session is not None
            disabled = time.monotonic()  # the command's own run (~2 s of imports) counts
            code, out, err = await pantau(config, "user", "disable", "olga")
            assert code == 0, err
            await asyncio.wait_for(session.closed.wait(), SIGN_IN_CHECK_S + 3)
            log.warning("disabled from the CLI -> live session ended: %.2f s", time.monotonic() - disabled)
            assert session.reason == SIGNED_OUT
        finally:
            await viewer.close()
        await call(client, "GET", "/api/v1/cameras", olga, 401)
        await sign_in(client, "olga", PASSWORD, 401)

        assert (await pantau(config, "user", "disable", "admin"))[0] == 1  # the last administrator
        code, _, err = await pantau(config, "user", "disable", "nobody")
        assert code == 1 and "no user 'nobody'" in err
        assert (await pantau(config, "user", "set-role", "olga", "king"))[0] == 2
        for args in (("enable", "olga"), ("set-role", "olga", "supervisor")):
            code, out, err = await pantau(config, "user", *args)
            assert code == 0, err
        code, _, err = await pantau(config, "user", "reset-password", "olga", "--password-stdin", stdin="short\n")
        assert code == 1 and "at least 10" in err
        code, _, err = await pantau(config, "user", "reset-password", "olga", "--password-stdin",
                                    stdin="password-789\n")
        assert code == 0, err
        await sign_in(client, "olga", PASSWORD, 401)
        assert (await sign_in(client, "olga", "password-789", 201))["role"] == "supervisor"
        logged = [e["payload"] for e in await entries(client, admin)]
    # The commands' entries and the gateway's share one chain, which verifies.
    code, out, err = await pantau(config, "verify-log", "--quiet")
    assert code == 0, out + err
    changed = [(e["actor"].split(":")[0], e["details"]["username"], e["details"]["field"], e["details"]["to"],
                e["details"]["via"]) for e in logged if e["action"] == "user_changed"]
    assert changed == [("cli", "olga", "enabled", False, "cli"), ("cli", "olga", "enabled", True, "cli"),
                       ("cli", "olga", "role", "supervisor", "cli"), ("cli", "olga", "password", None, "cli")]
    assert all("password-789" not in json.dumps(e) for e in logged)
