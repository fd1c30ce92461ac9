"""Running a real gateway in the test's event loop and talking to it over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from core.clock import Clock
from core.config import CameraConfig, Settings
from gateway.app import INITIAL_PASSWORD_FILE, Gateway


def make_settings(
    tmp_path: Path, db_url: str, cameras: list[CameraConfig] | None = None, **sections: Any
) -> Settings:
    """Settings for a test gateway on a free port with its own data directory."""
    return Settings(
        data_dir=tmp_path / "data",
        server={"host": "127.0.0.1", "port": 0, **sections.pop("server", {})},
        database={"url": db_url, **sections.pop("database", {})},
        storage={"path": tmp_path / "recordings"},
        cameras=cameras or [],
        **sections,
    )


class Client:
    """An HTTP client bound to one running gateway."""

    def __init__(self, gateway: Gateway, session: aiohttp.ClientSession) -> None:
        self.gateway = gateway
        self.http = session
        self.base = f"http://127.0.0.1:{gateway.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def admin_password(self) -> str:
        return (self.gateway.settings.data_dir / INITIAL_PASSWORD_FILE).read_text().strip()

    async def sign_in(self, username: str, password: str) -> str:
        async with self.http.post(
            self.url("/api/v1/session"), json={"username": username, "password": password}
        ) as resp:
            body = await resp.json(content_type=None)
            assert resp.status == 201, body
            return str(body["token"])

    async def get_json(self, path: str, token: str | None = None, status: int = 200) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.get(self.url(path), headers=headers) as resp:
            body = await resp.json(content_type=None)
            assert resp.status == status, (resp.status, body)
            return body


@contextlib.asynccontextmanager
async def running_gateway(settings: Settings, clock: Clock | None = None) -> AsyncIterator[Client]:
    """Start a gateway, yield a client; cancel and await it on the way out."""
    gateway = Gateway(settings, clock)
    ready = asyncio.Event()
    task = asyncio.create_task(gateway.run(on_ready=lambda _g: ready.set()))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()  # raises the start-up error
    assert ready.is_set(), "gateway did not start within 30 s"
    try:
        async with aiohttp.ClientSession() as session:
            yield Client(gateway, session)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
