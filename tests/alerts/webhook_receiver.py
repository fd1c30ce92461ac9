"""A webhook receiver for the tests: a real aiohttp server on loopback that checks each request the
way a city system would (its own Standard Webhooks verification, not Pantau's code), records what
it accepted, and can be stopped and started again on the same port."""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

TOLERANCE_S = 300  # the spec's suggested replay window


def verify(headers: Mapping[str, str], raw: bytes, secret: str | None, now: float | None = None) -> str | None:
    """None when the request is an authentic Standard Webhooks delivery for `secret`, else why not."""
    msg_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not msg_id or not stamp.isdigit():
        return "missing webhook-id or webhook-timestamp"
    if abs((time.time() if now is None else now) - int(stamp)) > TOLERANCE_S:
        return "timestamp outside the tolerance"
    offered = headers.get("webhook-signature")
    if secret is None:
        return None if offered is None else "a signature on an unsigned webhook"
    if not offered:
        return "no signature"
    key = base64.b64decode(secret[len("whsec_"):]) if secret.startswith("whsec_") else secret.encode("utf-8")
    expected = base64.b64encode(hmac.digest(key, b".".join([msg_id.encode(), stamp.encode(), raw]), "sha256"))
    for entry in offered.split(" "):
        version, _, value = entry.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return None
    return "bad signature"


class Receiver:
    """One receiver; `answer` is the status it gives an authentic delivery (with `location`, if set)."""

    def __init__(self, secret: str | None = None, answer: int = 200, location: str | None = None) -> None:
        self.secret = secret
        self.answer = answer
        self.location = location
        self.port = 0
        self.raw: list[bytes] = []  # bodies answered with 2xx, as received
        self.headers: list[dict[str, str]] = []
        self.rejected: list[str] = []
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def ids(self) -> list[str]:
        return [h["webhook-id"] for h in self.headers]

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in self.raw]

    async def start(self) -> None:
        """Listen (again) on the same port; a free one the first time."""
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        self.port = runner.addresses[0][1]
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        problem = verify(headers, raw, self.secret)
        if problem is None and headers.get("content-type") != "application/json":
            problem = f"content type {headers.get('content-type')!r}"
        if problem is None and not headers.get("user-agent", "").startswith("pantau/"):
            problem = f"user agent {headers.get('user-agent')!r}"
        if problem is None and json.loads(raw).get("id") != headers["webhook-id"]:
            problem = "webhook-id is not the body's id"
        if problem is not None:
            self.rejected.append(problem)
            return web.Response(status=401, text=problem)
        if 200 <= self.answer < 300:
            self.raw.append(raw)
            self.headers.append(headers)
        return web.Response(status=self.answer, headers={"Location": self.location} if self.location else None)


@asynccontextmanager
async def receiving(secret: str | None = None, answer: int = 200, location: str | None = None) -> AsyncIterator[Receiver]:
    """A started receiver, stopped at the end."""
    receiver = Receiver(secret, answer, location)
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


@asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A port that accepts connections and never answers: a hung receiver. Yields the port."""

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read()  # until the client gives up and closes
        finally:
            writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()
