"""Running a real gateway in the test's event loop and talking to it over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import io
import logging
import ssl
import sys
import time
import traceback
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from datetime import datetime
from typing import Any

import aiohttp

from core.clock import Clock
from core.config import CameraConfig, Settings
from gateway.app import INITIAL_PASSWORD_FILE, Gateway

log = logging.getLogger(__name__)


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
        scheme = "https" if gateway.settings.server.tls_cert is not None else "http"
        self.base = f"{scheme}://127.0.0.1:{gateway.port}"

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


async def call(client: Client, method: str, path: str, token: str | None, status: int, **kwargs: Any) -> Any:
    """One request with a bearer; asserts the status (and problem+json for errors); the JSON body or
    the bytes."""
    headers = {**kwargs.pop("headers", {}), **({"Authorization": f"Bearer {token}"} if token else {})}
    async with client.http.request(method, client.url(path), headers=headers, **kwargs) as resp:
        if resp.content_type in ("application/json", "application/problem+json"):
            body = await resp.json(content_type=None)
        else:
            body = await resp.read()
        assert resp.status == status, (method, path, resp.status, body)
        if status >= 400:
            assert resp.content_type == "application/problem+json", resp.content_type
            assert body["status"] == status
        return body


@contextlib.asynccontextmanager
async def running_gateway(
    settings: Settings, clock: Clock | None = None, tls: ssl.SSLContext | None = None
) -> AsyncIterator[Client]:
    """Start a gateway, yield a client (trusting what `tls` trusts, for a gateway with
    server.tls_cert); cancel and await it on the way out."""
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
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls) if tls else None) as session:
            yield Client(gateway, session)
    finally:
        task.cancel()
        # A stop that drags is named in the test's log: which tasks were still stopping, and where.
        slow = asyncio.get_running_loop().call_later(SLOW_STOP_S, _say_slow_stop)
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            slow.cancel()


#: A gateway that takes longer than this to stop has its unfinished tasks logged.
SLOW_STOP_S = 3.0


def _say_slow_stop() -> None:
    for thread_id, frame in sys._current_frames().items():
        where = traceback.format_stack(frame, limit=12)
        log.warning("gateway still stopping after %.0f s: thread %d at %s", SLOW_STOP_S, thread_id,
                    " -> ".join(line.strip().splitlines()[0].replace("File ", "") for line in where))
    for pending in asyncio.all_tasks():
        if not pending.done():
            log.warning("gateway still stopping after %.0f s: task %s at %s", SLOW_STOP_S, pending.get_name(),
                        " -> ".join(_awaiting(pending.get_coro())))


def _awaiting(coro: Any) -> list[str]:
    """Where a coroutine waits, outermost first: file:line down its chain of awaits."""
    where: list[str] = []
    while coro is not None and len(where) < 12:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            where.append(f"{frame.f_code.co_filename.rsplit('/', 2)[-1]}:{frame.f_lineno}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None) or getattr(coro, "gi_yieldfrom", None)
    return where


# The smallest file the letter sniffing takes for a PNG scan.
LETTER_PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(200)


def request_form(camera: str, start: datetime, end: datetime, max_views: int = 1, valid_days: int = 7
                 ) -> aiohttp.FormData:
    """The form of a playback request for `camera` over [start, end), with a letter."""
    data = aiohttp.FormData(default_to_multipart=True)
    for key, value in {"party_name": "Budi Santoso", "party_organisation": "Polres Kota", "purpose": "Theft",
                       "letter_number": "B/77/III/2026", "letter_date": "2026-03-09", "cameras": camera,
                       "start": start.isoformat(), "end": end.isoformat(), "max_views": str(max_views),
                       "valid_days": str(valid_days)}.items():
        data.add_field(key, value)
    data.add_field("letter", io.BytesIO(LETTER_PNG), filename="letter.png", content_type="application/octet-stream")
    return data


async def approved_disposition(
    client: Client, operator: str, supervisor: str, camera: str, start: datetime, end: datetime,
    max_views: int = 1, valid_days: int = 7,
) -> tuple[str, str]:
    """An operator files a playback request for `camera` with a letter, a supervisor approves it:
    (token, token id)."""
    data = request_form(camera, start, end, max_views, valid_days)
    async with client.http.post(client.url("/api/v1/playback-requests"), data=data,
                                headers={"Authorization": f"Bearer {operator}"}) as resp:
        filed = await resp.json()
        assert resp.status == 201, filed
    async with client.http.post(client.url(f"/api/v1/playback-requests/{filed['id']}/approvals"),
                                json={"note": "ok"}, headers={"Authorization": f"Bearer {supervisor}"}) as resp:
        approved = await resp.json()
        assert resp.status == 201, approved
    return approved["disposition"]["token"], approved["disposition"]["id"]



async def until(check: Callable[[], Any], within: float = 15.0, what: str = "condition",
                detail: Callable[[], str] | None = None) -> Any:
    """Poll `check()` (awaited when it returns an awaitable: the gateway's state, seen over HTTP)
    until it is truthy; return it. On time out the assertion says `what`, and `detail()` (a log's
    tail) when given."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s" + (f"\n{detail()}" if detail else ""))
        await asyncio.sleep(0.25)
