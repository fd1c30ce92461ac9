"""Sign-in, tokens, roles and visibility against a running gateway, on both database backends."""

from __future__ import annotations

import logging
import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from core.clock import ManualClock
from core.config import CameraConfig
from core.db import make_engine, make_sessionmaker
from gateway.app import INITIAL_PASSWORD_FILE
from policy.identity.sessions import SessionStore
from policy.identity.users import UserStore
from tests.gatewayutil import Client, make_settings, running_gateway

PROTECTED = [
    ("GET", "/api/v1/cameras"),
    ("GET", "/api/v1/cameras/lobby"),
    ("GET", "/api/v1/cameras/lobby/history"),
    ("GET", "/api/v1/cameras/lobby/snapshot.jpg"),
    ("DELETE", "/api/v1/session"),
    ("GET", "/api/v1/nothing-here"),
]
# Disabled cameras cost nothing to run and still show up in the API.
CAMERAS = [
    CameraConfig(id="lobby", source="demo://pattern", groups=["indoor"], enabled=False),
    CameraConfig(id="gate", source="demo://pattern", groups=["gates"], enabled=False),
]
VISIBILITY = {"access": {"visibility": {"viewer": ["indoor"], "operator": ["*"], "admin": ["*"]}}}


async def add_user(client: Client, name: str, role: str, password: str = "correct-horse-9") -> str:
    services = client.gateway.services
    assert services is not None
    await services.users.add(name, role, password)
    return await client.sign_in(name, password)


async def test_first_start_creates_admin_with_private_password_file(tmp_path: Path, db_url: str) -> None:
    async with running_gateway(make_settings(tmp_path, db_url)) as client:
        path = tmp_path / "data" / INITIAL_PASSWORD_FILE
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        token = await client.sign_in("admin", client.admin_password())
        body = await client.get_json("/api/v1/cameras", token)
        assert body == {"cameras": []}


async def test_protected_routes_refuse_missing_and_bad_tokens(tmp_path: Path, db_url: str) -> None:
    async with running_gateway(make_settings(tmp_path, db_url, CAMERAS)) as client:
        for method, path in PROTECTED:
            for headers in ({}, {"Authorization": "Bearer pts_forged"}, {"Authorization": "Basic YTpi"}):
                async with client.http.request(method, client.url(path), headers=headers) as resp:
                    assert resp.status == 401, (method, path, headers)
                    assert resp.content_type == "application/problem+json"
                    body = await resp.json(content_type=None)
                    assert body["status"] == 401 and body["title"] == "Unauthorized"


async def test_open_routes_need_no_token(tmp_path: Path, db_url: str) -> None:
    async with running_gateway(make_settings(tmp_path, db_url)) as client:
        for path in ("/livez", "/readyz", "/", "/api/v1/openapi.json", "/static/pantau.css"):
            async with client.http.get(client.url(path)) as resp:
                assert resp.status == 200, path


async def test_sign_in_failures_are_refused_logged_and_throttled(
    tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, db_url, auth={"max_failures": 3})
    caplog.set_level(logging.INFO)
    async with running_gateway(settings) as client:
        await add_user(client, "alice", "viewer", "alice-password-1")
        url = client.url("/api/v1/session")
        for _ in range(3):
            async with client.http.post(url, json={"username": "alice", "password": "WrongGuess-42"}) as resp:
                assert resp.status == 401
                assert resp.content_type == "application/problem+json"
        async with client.http.post(url, json={"username": "alice", "password": "alice-password-1"}) as resp:
            assert resp.status == 429  # locked out, even with the right password
            assert int(resp.headers["Retry-After"]) > 0
        async with client.http.post(url, json={"username": "nobody", "password": "x"}) as resp:
            assert resp.status == 401
        for body, ctype, status in [
            ("not json", "application/json", 400),
            ('{"username": 1}', "application/json", 400),
            ("[]", "application/json", 400),
            ('{"username":"a","password":"b"}', "text/plain", 415),
            ("x" * 10_000, "application/json", 413),
        ]:
            async with client.http.post(url, data=body, headers={"Content-Type": ctype}) as resp:
                assert resp.status == status, body[:20]
                assert resp.content_type == "application/problem+json"
    failures = [r for r in caplog.records if "sign-in failed" in r.getMessage()]
    assert len(failures) == 4
    assert any("sign-in throttled" in r.getMessage() for r in caplog.records)
    assert "WrongGuess-42" not in caplog.text and "alice-password-1" not in caplog.text


async def test_roles_and_camera_visibility(tmp_path: Path, db_url: str) -> None:
    async with running_gateway(make_settings(tmp_path, db_url, CAMERAS, **VISIBILITY)) as client:
        viewer = await add_user(client, "vera", "viewer")
        operator = await add_user(client, "omar", "operator")
        auditor = await add_user(client, "audrey", "auditor")
        seen = await client.get_json("/api/v1/cameras", viewer)
        assert [c["id"] for c in seen["cameras"]] == ["lobby"]
        seen = await client.get_json("/api/v1/cameras", operator)
        assert sorted(c["id"] for c in seen["cameras"]) == ["gate", "lobby"]
        # A hidden camera answers like a missing one.
        hidden = await client.get_json("/api/v1/cameras/gate", viewer, status=404)
        missing = await client.get_json("/api/v1/cameras/nope", viewer, status=404)
        assert hidden["title"] == missing["title"] == "Not found"
        await client.get_json("/api/v1/cameras", auditor, status=200)  # auditor is not in visibility
        assert (await client.get_json("/api/v1/cameras", auditor))["cameras"] == []
        # /health and /metrics: a token that is not admin's is refused even from 127.0.0.1.
        for path in ("/health", "/metrics"):
            async with client.http.get(client.url(path), headers={"Authorization": f"Bearer {operator}"}) as resp:
                assert resp.status == 403
            async with client.http.get(client.url(path)) as resp:  # admin address, no token
                assert resp.status == 200


async def test_health_needs_admin_token_from_other_addresses(tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path, db_url, server={"admin_hosts": ["192.0.2.0/24"]})
    async with running_gateway(settings) as client:
        for path in ("/health", "/metrics"):
            async with client.http.get(client.url(path)) as resp:
                assert resp.status == 401
        admin = await client.sign_in("admin", client.admin_password())
        async with client.http.get(client.url("/health"), headers={"Authorization": f"Bearer {admin}"}) as resp:
            assert resp.status == 200
            assert resp.content_type == "application/health+json"


async def test_sign_out_revokes_the_token(tmp_path: Path, db_url: str) -> None:
    async with running_gateway(make_settings(tmp_path, db_url)) as client:
        token = await client.sign_in("admin", client.admin_password())
        headers = {"Authorization": f"Bearer {token}"}
        async with client.http.delete(client.url("/api/v1/session"), headers=headers) as resp:
            assert resp.status == 204
        await client.get_json("/api/v1/cameras", token, status=401)


async def test_tokens_expire_and_disabled_users_lose_access(db_url: str) -> None:
    clock = ManualClock()
    engine = make_engine(db_url)
    try:
        db = make_sessionmaker(engine)
        users = UserStore(db, clock)
        who = await users.add("eve", "viewer", "eve-password-1")
        sessions = SessionStore(db, clock, ttl_s=3600)
        token, expires = await sessions.issue(who, "127.0.0.1")
        assert expires == clock.now() + timedelta(hours=1)
        assert await sessions.resolve(token) == who
        clock.advance(3599)
        assert await sessions.resolve(token) == who
        clock.advance(2)
        assert await sessions.resolve(token) is None
        token, _ = await sessions.issue(who, "127.0.0.1")
        from sqlalchemy import update

        from policy.identity.models import User

        async with db() as session:
            await session.execute(update(User).where(User.username == "eve").values(disabled=True))
            await session.commit()
        assert await sessions.resolve(token) is None
        assert await users.authenticate("eve", "eve-password-1") is None
        # Only the token's hash is stored.
        from sqlalchemy import text

        async with engine.connect() as conn:
            stored = (await conn.execute(text("SELECT token_sha256 FROM api_sessions"))).scalars().all()
        assert token not in stored and all(len(s) == 64 for s in stored)
    finally:
        await engine.dispose()


async def test_user_add_rules(db_url: str) -> None:
    from core.errors import BadRequest, Conflict

    engine = make_engine(db_url)
    try:
        users = UserStore(make_sessionmaker(engine), ManualClock())
        await users.add("sam", "supervisor", "long-enough-1")
        with pytest.raises(Conflict):
            await users.add("sam", "viewer", "long-enough-1")
        for name, role, pw in [("x y", "viewer", "long-enough-1"), ("ok", "root", "long-enough-1"), ("ok", "viewer", "short")]:
            with pytest.raises(BadRequest):
                await users.add(name, role, pw)
    finally:
        await engine.dispose()




async def test_unexpected_failure_is_problem_json_without_details(
    tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_gateway(make_settings(tmp_path, db_url)) as client:
        token = await client.sign_in("admin", client.admin_password())
        services = client.gateway.services
        assert services is not None

        async def broken(*_args: object, **_kwargs: object) -> None:
            raise RuntimeError("database is on fire: secret-internal-detail")

        services.sessions.resolve = broken  # type: ignore[method-assign]
        async with client.http.get(client.url("/api/v1/cameras"), headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 500
            assert resp.content_type == "application/problem+json"
            text = await resp.text()
        assert "secret-internal-detail" not in text
        assert "secret-internal-detail" in caplog.text  # the operator still sees why
        async with client.http.get(client.url("/livez")) as resp:
            assert resp.status == 200  # one failing route does not take the gateway down
