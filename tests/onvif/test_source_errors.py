"""An onvif:// camera whose device refuses, stays silent, faults or talks garbage: a clear reason, retries, no crash."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from core.clock import SystemClock
from core.config import CameraConfig, HealthConfig, OnvifConfig
from onvif_adapters.source import OnvifSource
from streams.camera import Camera
from streams.state import CameraState
from tests.fixtures_camera import SilentCamera
from tests.fixtures_onvif import OnvifDevice
from tests.onvif.fakesoap import FakeSoapServer, recorded

FAST = {"backoff": {"initial_s": 0.2, "max_s": 0.5, "jitter": 0.0}}
SETTINGS = OnvifConfig(timeout_s=1.0)


def onvif_camera(camera_id: str, source: str) -> Camera:
    cfg = CameraConfig(id=camera_id, source=source, **FAST)
    return Camera(cfg, HealthConfig(), 64, SystemClock(), resolver=OnvifSource(camera_id, source, SETTINGS))


async def offline_twice(camera: Camera, within: float) -> str:
    """Run the camera until it has failed two attempts in a row; its reason."""
    task = asyncio.create_task(camera.run())
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            status = camera.status
            if status.state == CameraState.OFFLINE and status.attempt >= 2:
                return status.reason
            await asyncio.sleep(0.05)
        raise AssertionError(f"{camera.id} did not retry twice within {within} s: {camera.status}")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_wrong_password_is_a_clear_reason_and_retried(onvif_device: Callable[..., OnvifDevice]) -> None:
    device = onvif_device()
    camera = onvif_camera("gate", device.source(password="not-the-password"))
    reason = await offline_twice(camera, within=15)
    assert "credentials refused" in reason and f"127.0.0.1:{device.port}" in reason
    assert "not-the-password" not in reason


async def test_silent_device_times_out_and_does_not_block_others(
    silent_camera: SilentCamera, onvif_device: Callable[..., OnvifDevice]
) -> None:
    device = onvif_device()
    mute = onvif_camera("mute", f"onvif://u:p@127.0.0.1:{silent_camera.port}")
    good = onvif_camera("good", device.source())
    good_task = asyncio.create_task(good.run())
    try:
        reason = await offline_twice(mute, within=15)
        assert "GetSystemDateAndTime: no answer in time" in reason
        deadline = time.monotonic() + 20
        while not good.status.state.up:
            assert time.monotonic() < deadline, good.status
            await asyncio.sleep(0.05)
    finally:
        good_task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await good_task


async def test_soap_fault_is_a_clear_reason() -> None:
    async with FakeSoapServer({"GetProfiles": (400, recorded("fault_invalid_arg_no_config.xml"))}) as server:
        reason = await offline_twice(onvif_camera("gate", f"onvif://u:p@127.0.0.1:{server.port}"), within=15)
    assert "GetProfiles: SOAP fault: Configuration token does not exist" in reason


async def test_malformed_answer_is_a_clear_reason() -> None:
    async with FakeSoapServer({"GetDeviceInformation": (200, "<html>login</html>")}) as server:
        reason = await offline_twice(onvif_camera("gate", f"onvif://u:p@127.0.0.1:{server.port}"), within=15)
    assert "GetDeviceInformation: not a valid SOAP answer" in reason


async def test_missing_profile_names_the_ones_there() -> None:
    async with FakeSoapServer() as server:
        source = f"onvif://u:p@127.0.0.1:{server.port}/?profile=sub"
        reason = await offline_twice(onvif_camera("gate", source), within=15)
    assert reason == "profile=sub, but the device has 1 Media1 profile(s) (p1); the device offers no Media2"
