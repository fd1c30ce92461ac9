"""OnvifClient against ipycam (real device) and recorded/garbage answers: plain data out, clear errors."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from onvif_adapters.client import OnvifClient
from onvif_adapters.errors import OnvifAuthError, OnvifFault, OnvifMalformed, OnvifTimeout, OnvifUnreachable
from tests.fixtures_camera import SilentCamera, free_port
from tests.fixtures_onvif import OnvifDevice
from tests.onvif.fakesoap import FakeSoapServer, recorded


async def test_device_info_profiles_and_stream_uri(onvif_device: Callable[..., OnvifDevice]) -> None:
    device = onvif_device()
    async with OnvifClient(device.host, device.port, device.user, device.password) as client:
        await client.connect()
        info = await client.device_info()
        assert (info.manufacturer, info.model, info.serial) == ("IPyCam", "VirtualCam-1", device.serial)
        profiles = await client.profiles()
        assert [(p.token, p.encoding, p.resolution, p.has_ptz) for p in profiles] == [
            ("Profile_Main", "H264", "640x360", True),
            ("Profile_Sub", "H264", "640x360", True),
        ]
        assert await client.stream_uri("Profile_Sub") == device.camera.url("sub")
        assert "onvif://www.onvif.org/name/Pantau test camera" in await client.scopes()
        assert await client.snapshot_uri("Profile_Main") == f"http://127.0.0.1:{device.port}/snapshot.jpg"
        assert client.clock_offset_s is not None and abs(client.clock_offset_s) < 2


async def test_ws_security_survives_a_drifted_camera_clock(onvif_device: Callable[..., OnvifDevice]) -> None:
    # ipycam refuses UsernameTokens more than 300 s away from its clock: 600 s off fails
    # unless the client signs with the measured offset.
    device = onvif_device(clock_offset=600.0)
    async with OnvifClient(device.host, device.port, device.user, device.password) as client:
        await client.connect()
        assert client.clock_offset_s is not None and abs(client.clock_offset_s - 600) < 2
        assert (await client.device_info()).serial == device.serial


async def test_wrong_password_is_an_auth_error(onvif_device: Callable[..., OnvifDevice]) -> None:
    device = onvif_device()
    async with OnvifClient(device.host, device.port, device.user, "wrong") as client:
        with pytest.raises(OnvifAuthError) as caught:
            await client.connect()
            await client.device_info()
    assert "credentials refused" in caught.value.detail
    assert "wrong" not in caught.value.detail and device.password not in caught.value.detail


async def test_silent_device_times_out(silent_camera: SilentCamera) -> None:
    async with OnvifClient("127.0.0.1", silent_camera.port, "u", "p", timeout_s=1.0) as client:
        started = time.monotonic()
        with pytest.raises(OnvifTimeout) as caught:
            await client.connect()
    assert time.monotonic() - started < 5
    assert "GetSystemDateAndTime: no answer in time" in caught.value.detail


async def test_closed_port_is_unreachable() -> None:
    async with OnvifClient("127.0.0.1", free_port(), "u", "p", timeout_s=2.0) as client:
        with pytest.raises(OnvifUnreachable):
            await client.connect()


async def test_recorded_fault_is_a_soap_fault() -> None:
    answers = {"GetDeviceInformation": (400, recorded("fault_invalid_arg_no_config.xml"))}
    async with FakeSoapServer(answers) as server:
        async with OnvifClient("127.0.0.1", server.port, "u", "p") as client:
            await client.connect()
            with pytest.raises(OnvifFault) as caught:
                await client.device_info()
    assert "Configuration token does not exist" in caught.value.detail
    assert "InvalidArgVal" in caught.value.detail


@pytest.mark.parametrize(
    "answer",
    [
        (200, "<html><body>ONVIF is disabled</body></html>"),
        (200, '<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'),
        (200, "\x00\x01 not xml at all"),
    ],
    ids=["html", "truncated", "binary"],
)
async def test_malformed_answer_is_reported(answer: tuple[int, str]) -> None:
    async with FakeSoapServer({"GetProfiles": answer}) as server:
        async with OnvifClient("127.0.0.1", server.port, "u", "p") as client:
            await client.connect()
            with pytest.raises(OnvifMalformed) as caught:
                await client.profiles()
    assert "GetProfiles" in caught.value.detail


async def test_recorded_axis_clock_reads_as_drift() -> None:
    answers = {"GetSystemDateAndTime": (200, recorded("axis_get_system_date_and_time.xml"))}
    async with FakeSoapServer(answers) as server:
        async with OnvifClient("127.0.0.1", server.port, "u", "p") as client:
            offset = await client.read_clock_offset()
    recorded_at = 1720554546  # 2024-07-09T19:49:06Z, the camera's UTCDateTime
    assert abs(offset - (recorded_at - time.time())) < 5
