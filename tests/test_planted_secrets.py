"""Planted secrets (a camera's password, a webhook's signing secret, a trigger key, people's and an
NVR's passwords, session tokens) appear in no log line, no API answer and no access-log export, while
the gateway does everyday work with them and fails at some of it (a camera down, a webhook that does
not answer, wrong keys and passwords)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from core.config import CameraConfig
from tests.fixtures_camera import free_port
from tests.gatewayutil import make_settings, running_gateway, until

CAMERA_PW = "PLANTED-cam-pw-7781"
HOOK_SECRET = "PLANTED-hook-secret-55219"
TRIGGER_KEY = "PLANTED-trigger-key-90817"
OPERATOR_PW = "PLANTED-operator-pw-3321"
NVR_PW = "PLANTED-nvr-pw-66120"
WRONG_PW = "PLANTED-wrong-pw-10101"


@pytest.mark.timeout(120)
async def test_secrets_stay_out_of_logs_answers_and_exports(
    tmp_path: Path, camera_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    camera = camera_server({"live": "ball"})
    dead = free_port()  # nothing listens: the webhook's deliveries fail and are retried
    settings = make_settings(
        tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}",
        [CameraConfig(id="gate", source=camera.url("live", credentials=f"admin:{CAMERA_PW}"), groups=["gates"])],
        alerts={"webhooks": [{"name": "ops", "url": f"http://127.0.0.1:{dead}/hook", "secret": HOOK_SECRET,
                              "timeout_s": 1, "retry": {"initial_s": 0.2, "max_s": 0.5}}]},
        cases={"playbooks": [{"id": "panic", "name_id": "Tombol panik", "trigger_key": TRIGGER_KEY}]},
    )
    answers: list[str] = []
    async with running_gateway(settings) as client:
        services = client.gateway.services
        assert services is not None
        admin_pw = client.admin_password()
        await services.users.add("olga", "operator", OPERATOR_PW)
        await services.users.add("nvr", "integrator", NVR_PW)
        admin = await client.sign_in("admin", admin_pw)
        olga = await client.sign_in("olga", OPERATOR_PW)
        await until(lambda: _online(services), 20, "the camera online")

        async def get(path: str, token: str | None = admin) -> None:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            async with client.http.get(client.url(path), headers=headers) as resp:
                answers.append(f"{path} {resp.status} {dict(resp.headers)} {await resp.text()}")

        # Failures that carry a secret's neighbourhood: wrong password, wrong trigger key, a bearer
        # that is a password, the camera going down (its URL in errors), a webhook that fails.
        async with client.http.post(client.url("/api/v1/session"), json={"username": "olga", "password": WRONG_PW}) as r:
            answers.append(await r.text())
        async with client.http.post(client.url("/api/v1/triggers/panic"), headers={"X-Trigger-Key": WRONG_PW}) as r:
            answers.append(await r.text())
        async with client.http.post(client.url("/api/v1/triggers/panic"), headers={"X-Trigger-Key": TRIGGER_KEY},
                                    json={"note": "test"}) as r:
            answers.append(await r.text())
        await get("/api/v1/cameras", CAMERA_PW)
        camera.stop()
        await until(lambda: _offline(services), 30, "the camera offline")
        await asyncio.sleep(2)  # a few failed webhook deliveries
        for path in ("/api/v1/cameras", "/api/v1/cameras/gate", "/api/v1/cameras/gate/history", "/health",
                     "/metrics", "/api/v1/alerts", "/api/v1/users", "/api/v1/access-log?limit=1000",
                     "/api/v1/access-log/export", "/api/v1/openapi.json", "/api/v1/cases"):
            await get(path)
        await get("/api/v1/cameras", olga)
        camera.start()

    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''} {getattr(r, '__dict__', {})}" for r in caplog.records)
    export = "\n".join(answers)
    planted = {"camera password": CAMERA_PW, "webhook secret": HOOK_SECRET, "trigger key": TRIGGER_KEY,
               "operator password": OPERATOR_PW, "nvr password": NVR_PW, "wrong password": WRONG_PW,
               "admin password": admin_pw, "admin session": admin, "operator session": olga}
    leaks = {f"{name} in {where}" for name, secret in planted.items()
             for where, text in (("the log", logged), ("an answer", export)) if secret in text}
    assert not leaks, leaks
    # The failures did happen: the camera went offline and the webhook's deliveries failed.
    assert "offline" in logged and any(r.name.startswith("alerts") and r.levelno >= logging.WARNING
                                       for r in caplog.records), "no failure was exercised"
    assert json.loads(answers[0])["status"] == 401


def _online(services: Any) -> Any:
    return _async(services.cameras["gate"].status.state.value == "online")


def _offline(services: Any) -> Any:
    return _async(services.cameras["gate"].status.state.value in ("offline", "reconnecting"))


async def _async(value: bool) -> bool:
    return value
