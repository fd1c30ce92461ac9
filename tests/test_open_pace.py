"""Staggered opens (streams/openpace.py): a gateway's cameras start their connections a few at a
time, at most `hub.opens_per_s` a second, so a start does not open every camera at once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.clock import ManualClock
from core.config import CameraConfig
from streams.openpace import OpenPace
from streams.state import CameraState
from tests.gatewayutil import make_settings, running_gateway, until


def test_turns_are_spread_evenly_and_an_idle_pace_opens_at_once() -> None:
    clock = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
    pace = OpenPace(4.0, clock)
    assert [pace.reserve() for _ in range(5)] == [0.0, 0.25, 0.5, 0.75, 1.0]
    clock.advance(0.6)  # time passed: the turns already handed out still stand
    assert pace.reserve() == pytest.approx(0.65)
    clock.advance(10)
    assert pace.reserve() == 0.0  # nobody waiting: the next open goes at once


async def test_a_gateways_cameras_open_one_turn_after_another(tmp_path: Path) -> None:
    cams = [CameraConfig(id=f"cam{i}", source="demo://pattern", record=False) for i in range(4)]
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cams, hub={"opens_per_s": 2})
    async with running_gateway(settings) as client:
        services = client.gateway.services
        assert services is not None
        cameras = [services.cameras[c.id] for c in cams]

        async def all_online() -> bool:
            return all(c.status.state is CameraState.ONLINE for c in cameras)

        await until(all_online, 20, "every camera online")
        online = sorted(c.status.since for c in cameras)
    # Four opens at two a second: the last starts 1.5 s after the first (at once, they come up within
    # about 0.2 s of each other; the first open of a process takes longest).
    assert (online[-1] - online[0]).total_seconds() >= 1.0, online
