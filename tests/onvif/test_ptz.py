"""PTZ against a real ONVIF device (ipycam): moves, stop, presets and home, read back with GetStatus."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from core.errors import NotFound, Unprocessable
from onvif_adapters.client import OnvifClient
from onvif_adapters.ptz import MoveMode, PtzControl, PtzMove, PtzOutOfRange, PtzUnsupported
from tests.fixtures_onvif import OnvifDevice
from tests.onvif.soap_replay import EventDevice


@pytest.fixture
async def ptz(onvif_device: Callable[..., OnvifDevice]) -> AsyncIterator[PtzControl]:
    device = onvif_device()
    async with OnvifClient(device.host, device.port, device.user, device.password) as client:
        await client.connect()
        yield PtzControl(client)


def close(a: float | None, b: float) -> bool:
    return a is not None and abs(a - b) < 1e-6


async def wait_until_still(ptz: PtzControl, timeout_s: float = 5.0) -> tuple[float | None, float | None]:
    """(pan, tilt) once two GetStatus readings agree: ipycam eases towards its target."""
    async with asyncio.timeout(timeout_s):
        last = None
        while True:
            status = await ptz.status()
            here = (status.pan, status.tilt)
            if here == last:
                return here
            last = here
            await asyncio.sleep(0.1)


async def test_capabilities_come_from_the_node_and_configuration(ptz: PtzControl) -> None:
    caps = await ptz.capabilities()
    assert caps.profile == "Profile_Main" and caps.node == "PTZ_Node_1"
    assert set(caps.modes) == {MoveMode.CONTINUOUS, MoveMode.RELATIVE, MoveMode.ABSOLUTE}
    assert (caps.pan_tilt[MoveMode.ABSOLUTE].x.low, caps.pan_tilt[MoveMode.ABSOLUTE].x.high) == (-1.0, 1.0)
    assert (caps.zoom[MoveMode.ABSOLUTE].x.low, caps.zoom[MoveMode.ABSOLUTE].x.high) == (0.0, 1.0)
    assert caps.max_presets == 10 and caps.home_supported


async def test_absolute_and_relative_moves_land_where_asked(ptz: PtzControl) -> None:
    await ptz.move(PtzMove(MoveMode.ABSOLUTE, pan=0.25, tilt=-0.5, zoom=0.4))
    status = await ptz.status()
    assert close(status.pan, 0.25) and close(status.tilt, -0.5) and close(status.zoom, 0.4)
    await ptz.move(PtzMove(MoveMode.RELATIVE, pan=0.1))
    status = await ptz.status()
    assert close(status.pan, 0.35) and close(status.tilt, -0.5)
    # Only tilt given in absolute mode: pan stays where it is.
    await ptz.move(PtzMove(MoveMode.ABSOLUTE, tilt=0.2))
    status = await ptz.status()
    assert close(status.pan, 0.35) and close(status.tilt, 0.2)


async def test_continuous_move_runs_until_stop(ptz: PtzControl) -> None:
    await ptz.move(PtzMove(MoveMode.ABSOLUTE, pan=0.0, tilt=0.0, zoom=0.0))
    await ptz.move(PtzMove(MoveMode.CONTINUOUS, pan=0.5, timeout_s=5))
    async with asyncio.timeout(5):
        while True:  # polls the camera's reported position
            if ((await ptz.status()).pan or 0) > 0.05:
                break
            await asyncio.sleep(0.05)
    await ptz.stop()
    pan, _ = await wait_until_still(ptz)
    assert pan is not None and 0.05 < pan < 1.0
    await asyncio.sleep(0.3)
    assert (await ptz.status()).pan == pan  # stopped: it stays


async def test_presets_set_list_goto_and_home(ptz: PtzControl) -> None:
    await ptz.move(PtzMove(MoveMode.ABSOLUTE, pan=-0.4, tilt=0.3, zoom=0.2))
    token = await ptz.set_preset("north gate")
    presets = {p.token: p for p in await ptz.presets()}
    assert presets[token].name == "north gate"
    assert close(presets[token].pan, -0.4) and close(presets[token].tilt, 0.3)
    await ptz.home()
    status = await ptz.status()
    assert close(status.pan, 0.0) and close(status.tilt, 0.0)
    await ptz.goto_preset(token)
    status = await ptz.status()
    assert close(status.pan, -0.4) and close(status.tilt, 0.3) and close(status.zoom, 0.2)
    with pytest.raises(NotFound):
        await ptz.goto_preset("no-such-preset")


async def test_values_outside_the_cameras_ranges_are_refused(ptz: PtzControl) -> None:
    with pytest.raises(PtzOutOfRange, match=r"pan 1.5 is outside the camera's range \[-1, 1\]"):
        await ptz.move(PtzMove(MoveMode.ABSOLUTE, pan=1.5, tilt=0.0))
    with pytest.raises(PtzOutOfRange, match="zoom"):
        await ptz.move(PtzMove(MoveMode.ABSOLUTE, zoom=-0.5))
    with pytest.raises(PtzOutOfRange, match="timeout_s"):
        await ptz.move(PtzMove(MoveMode.CONTINUOUS, pan=0.1, timeout_s=10_000))
    with pytest.raises(Unprocessable, match="at least one"):
        await ptz.move(PtzMove(MoveMode.RELATIVE))


async def test_presets_beyond_the_cameras_capacity_are_refused(ptz: PtzControl) -> None:
    caps = await ptz.capabilities()
    for n in range(caps.max_presets - len(await ptz.presets())):
        await ptz.set_preset(f"p{n}")
    with pytest.raises(PtzUnsupported, match=f"at most {caps.max_presets} presets"):
        await ptz.set_preset("one too many")


async def test_a_camera_without_a_ptz_service_says_so() -> None:
    async with EventDevice() as device:  # device and events services only
        async with OnvifClient(device.host, device.port, device.user, device.password) as client:
            await client.connect()
            control = PtzControl(client)
            with pytest.raises(PtzUnsupported, match="no ONVIF PTZ service") as caught:
                await control.move(PtzMove(MoveMode.RELATIVE, pan=0.1))
            assert caught.value.status == 409
            with pytest.raises(PtzUnsupported):
                await control.presets()
        assert device.problems == []
