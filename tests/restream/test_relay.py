"""Relays on their own (restream/relay.py), with the built-in demo source as the camera: a camera
ingested elsewhere is relayed while read and let go when idle; a camera ingested here is served from
its own hub; a broken relay ends itself, not the relays."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from core.clock import SystemClock
from core.config import CameraConfig, HealthConfig
from restream.relay import Relays
from streams.camera import Camera
from streams.feed import Feed, StreamName


def remote_camera() -> Camera:
    camera = Camera(CameraConfig(id="cam", source="demo://pattern"), HealthConfig(), 64, SystemClock())
    camera.ingested_elsewhere("another node ingests it")
    return camera


@contextlib.asynccontextmanager
async def running(relays: Relays) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(relays.run())
    await asyncio.sleep(0)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_relayed_while_read_and_let_go_when_idle() -> None:
    relays = Relays(64, idle_s=0.5)
    camera = remote_camera()
    async with running(relays):
        hub = await relays.hub_for(camera, StreamName.MAIN)
        assert hub is not None and hub is not camera.hub and hub.streams
        assert await relays.hub_for(camera, StreamName.MAIN) is hub  # one relay per camera stream
        assert relays.active() == [("cam", "main")]
        async with hub.subscribe("reader") as sub:
            await asyncio.wait_for(sub.get(), 5)
            await asyncio.sleep(1.5)  # read for longer than idle_s: kept
            assert relays.active() == [("cam", "main")]
        await asyncio.sleep(2.5)  # nobody reads: let go
        assert relays.active() == []
        assert camera.status.state.name == "REMOTE"  # the relay said nothing about the camera
        assert await relays.hub_for(camera, StreamName.SUB) is None  # no sub-stream


async def test_a_camera_ingested_here_is_served_from_its_own_hub() -> None:
    relays = Relays(64, idle_s=0.5)
    camera = Camera(CameraConfig(id="cam", source="demo://pattern"), HealthConfig(), 64, SystemClock())
    async with running(relays):
        assert await relays.hub_for(camera, StreamName.MAIN) is None  # offline here, not remote: no relay
        ingest = asyncio.create_task(camera.run())
        try:
            for _ in range(100):
                if camera.hub.streams:
                    break
                await asyncio.sleep(0.05)
            assert await relays.hub_for(camera, StreamName.MAIN) is camera.hub
            assert relays.active() == []
        finally:
            ingest.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ingest


async def test_a_broken_relay_ends_itself_not_the_relays(monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    async def broken(_feed: Feed) -> None:
        raise RuntimeError("a bug in the feed")

    monkeypatch.setattr(Feed, "run", broken)
    relays = Relays(64, idle_s=0.5, wait_s=0.5)
    async with running(relays) as task:
        assert await relays.hub_for(remote_camera(), StreamName.MAIN) is None
        await asyncio.sleep(0.1)
        assert not task.done()
    assert "relay of camera cam (main) failed" in caplog.text
