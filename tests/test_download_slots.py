"""The download cap (recording.max_downloads): one more download than allowed is a 503 with Retry-After."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from core.errors import Unavailable
from gateway.http.downloads import DownloadSlots
from gateway.http.problems import problem_middleware


def test_slots_are_taken_and_given_back_even_on_errors() -> None:
    slots = DownloadSlots(2)
    with slots.take(), slots.take():
        assert slots.active == 2
        with pytest.raises(Unavailable) as refused, slots.take():
            pass
        assert refused.value.retry_after_s == DownloadSlots.RETRY_AFTER_S
    assert slots.active == 0
    with pytest.raises(RuntimeError), slots.take():
        raise RuntimeError("a failed download")
    assert slots.active == 0


async def test_a_download_beyond_the_cap_is_503_with_retry_after() -> None:
    slots = DownloadSlots(1)
    release, started = asyncio.Event(), asyncio.Event()

    async def download(request: web.Request) -> web.Response:
        with slots.take():
            started.set()
            await release.wait()
            return web.Response(text="video")

    app = web.Application(middlewares=[problem_middleware])
    app.router.add_get("/get", download)
    async with TestClient(TestServer(app)) as client:
        first = asyncio.ensure_future(client.get("/get"))
        await asyncio.wait_for(started.wait(), 10)
        second = await client.get("/get")
        assert second.status == 503
        assert second.headers["Retry-After"] == "10"
        assert "max_downloads" in (await second.json())["detail"]
        release.set()
        assert (await first).status == 200
