"""PTZ through the gateway's HTTP routes against the real ONVIF device (ipycam): policy and access log."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.config import CameraConfig
from tests.fixtures_onvif import OnvifDevice
from tests.gatewayutil import Client, make_settings, running_gateway


async def call(client: Client, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with client.http.request(method, client.url(path), json=body, headers=headers) as resp:
        data = await resp.json(content_type=None) if resp.status != 204 else None
        return resp.status, data


async def ptz_log(client: Client, admin: str) -> list[dict[str, Any]]:
    """PTZ entries and decision entries, oldest first (their payloads)."""
    found: list[dict[str, Any]] = []
    for action in ("ptz", "decision"):
        body = await client.get_json(f"/api/v1/access-log?action={action}&limit=1000", admin)
        found += [e["payload"] for e in body["entries"]]
    return sorted(found, key=lambda e: e["seq"])


async def test_operator_moves_presets_and_home_viewer_refused_everything_logged(
    tmp_path: Path, onvif_device: Callable[..., OnvifDevice]
) -> None:
    device = onvif_device()
    cams = [
        CameraConfig(id="dome", source=device.source(), record=False),
        CameraConfig(id="fixed", source="rtsp://127.0.0.1:9/none", enabled=False, record=False),
    ]
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cams)
    async with running_gateway(settings) as client:
        services = client.gateway.services
        assert services is not None
        await services.users.add("omar", "operator", "omar-password-1")
        await services.users.add("vera", "viewer", "vera-password-1")
        admin = await client.sign_in("admin", client.admin_password())
        omar = await client.sign_in("omar", "omar-password-1")
        vera = await client.sign_in("vera", "vera-password-1")
        base = "/api/v1/cameras/dome/ptz"

        status, info = await call(client, "GET", base, omar)
        assert status == 200, info
        assert info["modes"] == ["continuous", "relative", "absolute"] and info["home"] is True
        assert info["ranges"]["absolute"] == {"pan": [-1.0, 1.0], "tilt": [-1.0, 1.0], "zoom": [0.0, 1.0]}

        move = {"mode": "absolute", "pan": 0.5, "tilt": -0.25, "zoom": 0.3}
        assert (await call(client, "POST", f"{base}/move", omar, move))[0] == 204
        _, info = await call(client, "GET", base, omar)
        assert (info["status"]["pan"], info["status"]["tilt"], info["status"]["zoom"]) == (0.5, -0.25, 0.3)

        status, saved = await call(client, "POST", f"{base}/presets", omar, {"name": "north gate"})
        assert status == 201 and saved["name"] == "north gate"
        _, presets = await call(client, "GET", f"{base}/presets", omar)
        assert {"token": saved["token"], "name": "north gate", "pan": 0.5, "tilt": -0.25, "zoom": 0.3} in (
            presets["presets"]
        )
        assert (await call(client, "POST", f"{base}/home", omar))[0] == 204
        _, info = await call(client, "GET", base, omar)
        assert (info["status"]["pan"], info["status"]["tilt"]) == (0.0, 0.0)
        assert (await call(client, "POST", f"{base}/presets/{saved['token']}/goto", omar))[0] == 204
        _, info = await call(client, "GET", base, omar)
        assert (info["status"]["pan"], info["status"]["tilt"]) == (0.5, -0.25)

        cont = {"mode": "continuous", "pan": -0.5, "tilt": 0, "timeout_s": 5}
        assert (await call(client, "POST", f"{base}/move", omar, cont))[0] == 204
        await asyncio.sleep(0.2)
        assert (await call(client, "POST", f"{base}/stop", omar))[0] == 204
        _, info = await call(client, "GET", base, omar)
        assert info["status"]["pan"] < 0.5

        # What the camera cannot do, and what it does not have.
        status, problem = await call(client, "POST", f"{base}/move", omar, {"mode": "absolute", "pan": 1.5, "tilt": 0})
        assert status == 422 and "outside the camera's range [-1, 1]" in problem["detail"]
        status, problem = await call(client, "POST", f"{base}/move", omar, {"mode": "sideways", "pan": 1})
        assert status == 422
        status, problem = await call(client, "POST", f"{base}/presets/nope/goto", omar)
        assert status == 404
        status, problem = await call(client, "POST", "/api/v1/cameras/fixed/ptz/move", omar, move)
        assert status == 409 and "not an ONVIF camera" in problem["detail"]

        # A viewer may see the camera but not move it.
        status, problem = await call(client, "POST", f"{base}/move", vera, move)
        assert status == 403 and "ptz" in problem["detail"]
        assert (await call(client, "GET", f"{base}/presets", vera))[0] == 403
        assert (await call(client, "POST", f"{base}/home", vera))[0] == 403

        entries = await ptz_log(client, admin)
        done = [(e["actor"], e["details"]["command"], e["outcome"]) for e in entries if e["action"] == "ptz"]
        assert ("omar", "move", "ok") in done and ("omar", "set_preset", "ok") in done
        assert ("omar", "goto_preset", "ok") in done and ("omar", "home", "ok") in done
        assert ("omar", "stop", "ok") in done
        assert ("omar", "move", "error") in done  # out of range: refused before reaching the camera
        assert all(e["camera"] in ("dome", "fixed") for e in entries if e["action"] == "ptz")
        moves = [e for e in entries if e["action"] == "ptz" and e["details"]["command"] == "move"]
        assert moves[0]["details"]["mode"] == "absolute" and moves[0]["details"]["pan"] == 0.5
        denied = [e for e in entries if e["action"] == "decision" and e["actor"] == "vera"]
        assert len(denied) == 3
        assert all(e["outcome"] == "deny" and e["details"]["action"] == "ptz" for e in denied)
        assert not [e for e in entries if e["action"] == "ptz" and e["actor"] == "vera"]
