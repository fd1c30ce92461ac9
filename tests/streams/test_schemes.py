"""Camera URL schemes: the allowlist in core/schemes.py and the sources registered for it."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest

from core.config import CameraConfig
from core.errors import SourceRefused
from core.schemes import SCHEMES, check_camera_url, check_onvif_source, is_onvif, onvif_url, scheme_of
from streams import schemes
from streams.demo import DemoSource
from streams.rtsp import RtspSource
from streams.source import make_source


def test_every_allowed_scheme_is_opened_by_a_source_or_resolved_by_onvif() -> None:
    opened = schemes.registered()
    for name, scheme in SCHEMES.items():
        assert (name in opened) != scheme.onvif, name
    assert opened <= SCHEMES.keys()


@pytest.mark.parametrize(
    ("url", "source"),
    [
        ("rtsp://cam.example/stream", RtspSource),
        ("RTSPS://cam.example/stream", RtspSource),
        ("demo://pattern?size=320x240", DemoSource),
    ],
)
def test_make_source_asks_the_registry(url: str, source: type) -> None:
    assert type(make_source(CameraConfig(id="x", source=url))) is source
    assert schemes.opener_for(url) is source


@pytest.mark.parametrize("url", ["onvif://u:p@10.0.0.5/", "file:///etc/passwd", "", "http://[::1"])
def test_nothing_opens_other_schemes(url: str) -> None:
    # An onvif:// camera is opened through the RTSP URL its resolver gets from the device.
    assert schemes.opener_for(url) is None
    with pytest.raises(SourceRefused, match="is not supported"):
        make_source(CameraConfig.model_construct(id="x", source=url))


@pytest.mark.parametrize("scheme", ["file", "http", "onvif", ""])
def test_sources_cannot_register_schemes_core_does_not_let_them_open(scheme: str) -> None:
    with pytest.raises(ValueError, match="not one a packet source may open"):
        schemes.register(RtspSource, scheme)
    assert scheme not in schemes.registered()


def test_a_scheme_has_one_source() -> None:
    schemes.register(RtspSource, "rtsp")  # the same again: nothing changes
    with pytest.raises(ValueError, match="already"):
        schemes.register(DemoSource, "rtsp")
    assert schemes.opener_for("rtsp://h/") is RtspSource


@pytest.mark.parametrize(
    ("url", "scheme", "onvif"),
    [
        ("rtsp://h/x", "rtsp", False),
        ("Rtsps://h/x", "rtsps", False),
        ("ONVIF://u:p@h/?profile=sub", "onvif", True),
        ("demo://pattern", "demo", False),
        ("file:///etc/passwd", "file", False),
        ("/etc/passwd", "", False),
        ("http://[::1", "", False),  # urlsplit refuses it
    ],
)
def test_scheme_of_and_is_onvif(url: str, scheme: str, onvif: bool) -> None:
    assert scheme_of(url) == scheme
    assert is_onvif(url) is onvif


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("rtsp://h/x", None),
        ("demo://anything?at=all", None),  # the demo source parses its options when it opens
        ("onvif://h", None),
        ("rtsps:///x", "has no host"),
        ("onvif://h/x", "takes no path"),
        ("ftp://h/x", "scheme 'ftp' is not allowed"),
        ("http://[::1", "is not a URL"),
    ],
)
def test_check_camera_url(url: str, error: str | None) -> None:
    if error is None:
        assert check_camera_url(url).name == scheme_of(url)
    else:
        with pytest.raises(ValueError, match=error):
            check_camera_url(url)


@pytest.mark.parametrize(
    ("host", "port", "user", "password", "profile", "expected"),
    [
        ("10.0.0.5", 80, "", "", "main", "onvif://10.0.0.5:80/?profile=main"),
        ("10.0.0.5", 8080, "admin", "p@ss:w/rd", "sub", "onvif://admin:p%40ss%3Aw%2Frd@10.0.0.5:8080/?profile=sub"),
        ("fe80::1", 80, "admin", "", "Profile_1", "onvif://admin:@[fe80::1]:80/?profile=Profile_1"),
    ],
)
def test_onvif_url_is_one_check_onvif_source_accepts(
    host: str, port: int, user: str, password: str, profile: str, expected: str
) -> None:
    url = onvif_url(host, port, user, password, profile)
    assert url == expected
    assert check_onvif_source(url) == profile
    parts = urlsplit(url)
    assert (parts.hostname, parts.port, unquote(parts.username or ""), unquote(parts.password or "")) == (
        host, port, user, password)
