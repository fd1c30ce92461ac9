"""A small server-sent-events reader for tests: collects `(event, id, data)` from a live stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp


@dataclass
class Received:
    event: str
    id: str | None
    data: Any
    at: float


@dataclass
class Stream:
    """Everything one SSE connection received so far, and its raw text (to search for secrets)."""

    events: list[Received] = field(default_factory=list)
    raw: str = ""

    def alerts(self, kind: str | None = None, camera: str | None = None) -> list[dict[str, Any]]:
        return [r.data for r in self.events if r.event == "alert"
                and (kind is None or r.data["kind"] == kind) and (camera is None or r.data["camera"] == camera)]


@contextlib.asynccontextmanager
async def sse(http: aiohttp.ClientSession, url: str, token: str, last_event_id: int | None = None
              ) -> AsyncIterator[Stream]:
    """Open `url` as an event stream and collect what arrives until the block ends."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    stream = Stream()
    async with http.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=None)) as resp:
        assert resp.status == 200, await resp.text()

        async def read() -> None:
            loop = asyncio.get_running_loop()
            event, event_id, data = "message", None, []  # type: str, str | None, list[str]
            async for raw in resp.content:
                line = raw.decode()
                stream.raw += line
                line = line.rstrip("\n")
                if not line:
                    if data:
                        stream.events.append(Received(event, event_id, json.loads("\n".join(data)), loop.time()))
                    event, event_id, data = "message", None, []
                elif line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("id: "):
                    event_id = line[4:]
                elif line.startswith("data: "):
                    data.append(line[6:])

        reader = asyncio.create_task(read())
        try:
            yield stream
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
                await reader
