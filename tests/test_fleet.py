"""CameraFleet.replace: the order a changed camera's parts are told in (pure logic; the end-to-end
test with real cameras is tests/test_api_onboarding.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from core.config import CameraConfig
from core.errors import NotFound
from fleet.camerafleet import CameraFleet


@dataclass
class FakeCamera:
    config: CameraConfig
    log: list[str]
    running: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def id(self) -> str:
        return self.config.id

    async def run(self) -> None:
        self.log.append(f"run {self.config.name}")
        self.running.set()
        try:
            await asyncio.Event().wait()
        finally:
            self.log.append(f"stopped {self.config.name}")


async def test_replace_tells_before_and_after_the_stop_then_starts_the_new_one_in_place() -> None:
    log: list[str] = []
    fleet = CameraFleet(lambda cfg: FakeCamera(cfg, log),  # type: ignore[arg-type,return-value]
                        [CameraConfig(id="a", name="a1", source="demo://"),
                         CameraConfig(id="b", name="b1", source="demo://")])
    fleet.on_removed(lambda cam: log.append(f"removed {cam.config.name}"))  # type: ignore[arg-type,func-returns-value]
    fleet.on_added(lambda cam: log.append(f"added {cam.config.name}"))  # type: ignore[arg-type,func-returns-value]
    runner = asyncio.create_task(fleet.run())
    try:
        await asyncio.wait_for(asyncio.gather(*(c.running.wait() for c in fleet.cameras.values())), 2)  # type: ignore[attr-defined]
        log.clear()
        cam = await fleet.replace(CameraConfig(id="a", name="a2", source="demo://"))
        await asyncio.wait_for(cam.running.wait(), 2)  # type: ignore[attr-defined]
        assert log == ["removed a1", "stopped a1", "removed a1", "added a2", "run a2"], log
        assert list(fleet.cameras) == ["a", "b"] and fleet.cameras["a"] is cam
        with pytest.raises(NotFound):
            await fleet.replace(CameraConfig(id="nope", source="demo://"))
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    assert "stopped b1" in log and "stopped a2" in log
