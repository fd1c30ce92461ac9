"""A camera's credentials go to the address the administrator gave and nowhere a device names:
service addresses are pinned to it, a stream URI on another host is opened at it, a snapshot URI
on another host is not fetched (unless onvif.credential_hosts names that host)."""

from __future__ import annotations

import pytest

from core.config import OnvifConfig
from onvif_adapters.client import pin_host
from onvif_adapters.source import OnvifSource


@pytest.mark.parametrize(("url", "host", "expected"), [
    ("http://10.0.0.9:8080/onvif/media", "192.0.2.7", "http://192.0.2.7:8080/onvif/media"),
    ("rtsp://10.0.0.9/stream1?x=1", "192.0.2.7", "rtsp://192.0.2.7/stream1?x=1"),
    ("http://192.0.2.7/onvif/media", "192.0.2.7", "http://192.0.2.7/onvif/media"),
    ("http://CAM.example/x", "cam.example", "http://CAM.example/x"),
    ("http://[fd00::9]:80/x", "fd00::7", "http://[fd00::7]:80/x"),
    ("not a url at all", "192.0.2.7", "not a url at all"),
])
def test_pin_host(url: str, host: str, expected: str) -> None:
    assert pin_host(url, host) == expected


def test_stream_and_snapshot_uris_are_pinned_unless_allowed() -> None:
    source = OnvifSource("gate", "onvif://admin:pw@192.0.2.7:80/?profile=main", OnvifConfig())
    assert source._pinned("rtsp://10.1.1.1:554/live", "stream URI") == "rtsp://192.0.2.7:554/live"
    assert source._pinned("rtsp://192.0.2.7:554/live", "stream URI") == "rtsp://192.0.2.7:554/live"
    assert not source._may_receive("http://evil.example/snap.jpg")
    nvr = OnvifSource("gate", "onvif://admin:pw@192.0.2.7:80/?profile=main",
                      OnvifConfig(credential_hosts=["10.1.1.1"]))
    assert nvr._pinned("rtsp://10.1.1.1:554/live", "stream URI") == "rtsp://10.1.1.1:554/live"
    assert nvr._may_receive("http://10.1.1.1/snap.jpg") and not nvr._may_receive("http://10.1.1.2/snap.jpg")
