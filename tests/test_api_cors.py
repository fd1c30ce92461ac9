"""CORS: a wall served from an allowed origin may call the API and WHEP; other origins may not."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Settings
from tests.gatewayutil import make_settings, running_gateway

WALL = "https://wall.example:8443"


def _db(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"


async def test_allowed_origin_gets_preflight_and_headers_others_do_not(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, _db(tmp_path), server={"cors_origins": [WALL]})
    async with running_gateway(settings) as client:
        preflight = {"Origin": WALL, "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "authorization, content-type"}
        async with client.http.options(client.url("/whep/live/gate"), headers=preflight) as resp:
            assert resp.status == 200
            assert resp.headers["Access-Control-Allow-Origin"] == WALL
            assert "POST" in resp.headers["Access-Control-Allow-Methods"]
            assert "AUTHORIZATION" in resp.headers["Access-Control-Allow-Headers"].upper()
            assert "Access-Control-Allow-Credentials" not in resp.headers
        async with client.http.options(client.url("/whep/live/gate"),
                                       headers={**preflight, "Origin": "https://evil.example"}) as resp:
            assert resp.status == 403
            assert "Access-Control-Allow-Origin" not in resp.headers
        # WHEP answers OPTIONS itself (Accept-Post, ICE servers), readable by the allowed page; a
        # trickling page may PATCH the session.
        async with client.http.options(client.url("/whep/playback/gate"), headers={"Origin": WALL}) as resp:
            assert resp.status == 204 and resp.headers["Accept-Post"] == "application/sdp"
            assert resp.headers["Access-Control-Allow-Origin"] == WALL
            assert "LINK" in resp.headers["Access-Control-Expose-Headers"].upper()
        async with client.http.options(client.url("/whep/sessions/AAAAAAAAAAAAAAAAAAAAAAAA"), headers={
                **preflight, "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "content-type, if-match"}) as resp:
            assert resp.status == 200 and resp.headers["Access-Control-Allow-Origin"] == WALL

        token = await client.sign_in("admin", client.admin_password())
        async with client.http.get(client.url("/api/v1/cameras"),
                                   headers={"Origin": WALL, "Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200
            assert resp.headers["Access-Control-Allow-Origin"] == WALL
            assert "LOCATION" in resp.headers["Access-Control-Expose-Headers"].upper()
        # A refusal is readable by the page too (it shows the problem's detail).
        async with client.http.get(client.url("/api/v1/cameras"), headers={"Origin": WALL}) as resp:
            assert resp.status == 401
            assert resp.headers["Access-Control-Allow-Origin"] == WALL
        async with client.http.get(client.url("/api/v1/cameras"),
                                   headers={"Origin": "https://evil.example", "Authorization": f"Bearer {token}"}) as resp:
            assert "Access-Control-Allow-Origin" not in resp.headers


async def test_no_cors_headers_by_default(tmp_path: Path) -> None:
    async with running_gateway(make_settings(tmp_path, _db(tmp_path))) as client:
        async with client.http.get(client.url("/livez"), headers={"Origin": WALL}) as resp:
            assert resp.status == 200
            assert "Access-Control-Allow-Origin" not in resp.headers


@pytest.mark.parametrize("bad", ["wall.example", "https://wall.example/", "https://wall.example/page",
                                 "ftp://wall.example", "https://user@wall.example"])
def test_an_origin_that_is_not_one_is_a_config_error(bad: str) -> None:
    with pytest.raises(ValueError, match="is not an origin"):
        Settings(server={"cors_origins": [bad]})
