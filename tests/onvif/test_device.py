"""The test device itself: ipycam answers real SOAP through onvif-zeep-async (no Pantau code)."""

from __future__ import annotations

from collections.abc import Callable

import zeep.exceptions
from onvif import ONVIFCamera

from tests.fixtures_onvif import OnvifDevice


async def test_device_serves_device_and_media_services(onvif_device: Callable[..., OnvifDevice]) -> None:
    device = onvif_device()
    cam = ONVIFCamera(device.host, device.port, device.user, device.password, no_cache=True)
    try:
        await cam.update_xaddrs()
        mgmt = await cam.create_devicemgmt_service()
        info = await mgmt.GetDeviceInformation()
        assert (info.Manufacturer, info.SerialNumber) == ("IPyCam", device.serial)
        media = await cam.create_media_service()
        profiles = await media.GetProfiles()
        assert [p.token for p in profiles] == ["Profile_Main", "Profile_Sub"]
        uri = await media.GetStreamUri(
            {"StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
             "ProfileToken": "Profile_Main"}
        )
        assert uri.Uri == device.camera.url("main")
    finally:
        await cam.close()


async def test_device_refuses_a_wrong_password(onvif_device: Callable[..., OnvifDevice]) -> None:
    device = onvif_device()
    cam = ONVIFCamera(device.host, device.port, device.user, "wrong", no_cache=True)
    try:
        mgmt = await cam.create_devicemgmt_service()
        # GetSystemDateAndTime is PRE_AUTH (ONVIF Core): no credentials needed.
        assert (await mgmt.authless_GetSystemDateAndTime()).UTCDateTime.Date.Year >= 2024
        try:
            await mgmt.GetDeviceInformation()
        except zeep.exceptions.Fault as exc:
            assert "not authorized" in str(exc.message).lower()
        else:
            raise AssertionError("a wrong password was accepted")
    finally:
        await cam.close()
