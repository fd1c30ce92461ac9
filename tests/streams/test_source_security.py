"""URLs libav must never see, and credentials that must never leak into errors or logs."""

from __future__ import annotations

import asyncio
import logging
import traceback

import av
import pytest

from core.clock import SystemClock
from core.config import BackoffConfig, CameraConfig, HealthConfig
from core.errors import SourceError, SourceRefused, SourceTimeout
from streams.camera import Camera
from streams.rtsp import FORMAT_WHITELIST, PROTOCOL_WHITELIST, RtspSource, check_rtsp_url
from streams.source import make_source
from streams.state import CameraState, CameraStatus
from tests.fixtures_camera import CameraServer, SilentCamera, free_port
from tests.streams.camera_helpers import wait_until

PASSWORD = "pl4nted-Secret"
BAD_URLS = [
    "file:///etc/passwd",
    "/etc/passwd",
    "http://127.0.0.1/stream.sdp",
    "https://127.0.0.1/x",
    "concat:rtsp://a|file:///etc/passwd",
    "subfile,,start,0,end,0,,:/etc/passwd",
    "pipe:0",
    "tcp://127.0.0.1:554",
    "rtsp:///no-host",
]


def unchecked(source: str, **kwargs: object) -> CameraConfig:
    """A config that skips validation, as if a bad URL got past it."""
    return CameraConfig.model_construct(
        **{**CameraConfig(id="x", source="rtsp://h/").model_dump(), "source": source, **kwargs}
    )


@pytest.fixture
def no_libav(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record any av.open call; refusing must happen before it."""
    calls: list[str] = []

    def fake_open(url: str, *args: object, **kwargs: object) -> None:
        calls.append(url)
        raise AssertionError("libav reached")

    monkeypatch.setattr(av, "open", fake_open)
    return calls


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_urls_refused_before_libav(url: str, no_libav: list[str]) -> None:
    with pytest.raises(SourceRefused):
        check_rtsp_url(url)
    with pytest.raises(SourceRefused):
        RtspSource(unchecked(url)).open()
    if not url.startswith(("rtsp", "demo")):
        with pytest.raises(SourceRefused):
            make_source(unchecked(url))
    assert no_libav == []


@pytest.mark.parametrize("url", ["file:///etc/hostname", "/etc/hostname", "http://127.0.0.1:1/x"])
def test_whitelists_stop_libav_too(url: str) -> None:
    # Defence in depth: even handed such a URL, libav with our options opens nothing.
    with pytest.raises(av.error.FFmpegError):
        av.open(
            url,
            options={"protocol_whitelist": PROTOCOL_WHITELIST, "format_whitelist": FORMAT_WHITELIST},
            timeout=2,
        )


def assert_clean(exc: BaseException) -> None:
    text = "".join(traceback.format_exception(exc)) + repr(exc)
    assert PASSWORD not in text
    assert "***@" in str(exc)


def test_refused_connection_error_has_no_password() -> None:
    source = RtspSource(CameraConfig(id="c", source=f"rtsp://admin:{PASSWORD}@127.0.0.1:{free_port()}/x"))
    with pytest.raises(SourceError) as info:
        source.open()
    assert_clean(info.value)
    source.close()


def test_silent_camera_times_out_without_password(silent_camera: SilentCamera) -> None:
    cfg = CameraConfig(
        id="c", source=silent_camera.url(credentials=f"admin:{PASSWORD}"), open_timeout_s=1, read_timeout_s=1
    )
    with pytest.raises(SourceTimeout) as info:
        RtspSource(cfg).open()
    assert_clean(info.value)


def test_not_found_error_has_no_password(camera_server) -> None:  # type: ignore[no-untyped-def]
    server: CameraServer = camera_server({"live": "ball"})
    with pytest.raises(SourceError) as info:
        RtspSource(
            CameraConfig(id="c", source=server.url("nope", f"admin:{PASSWORD}"), open_timeout_s=3)
        ).open()
    assert "404" in str(info.value)
    assert_clean(info.value)


async def test_camera_logs_and_status_never_show_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    statuses: list[CameraStatus] = []
    cfg = CameraConfig(
        id="leaky",
        source=f"rtsp://admin:{PASSWORD}@127.0.0.1:{free_port()}/x",
        open_timeout_s=1,
        backoff=BackoffConfig(initial_s=0.05, max_s=0.1),
    )
    camera = Camera(cfg, HealthConfig(), 64, SystemClock(), lambda _id, _old, new: statuses.append(new))
    task = asyncio.create_task(camera.run())
    await wait_until(lambda: sum(s.state == CameraState.OFFLINE for s in statuses) >= 3, 5, "3 failures")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert "Connection refused" in statuses[-1].reason or "Connection refused" in statuses[-2].reason
    for status in statuses:
        assert PASSWORD not in repr(status)
    assert caplog.records
    for record in caplog.records:
        assert PASSWORD not in record.getMessage()
        assert PASSWORD not in logging.Formatter().format(record)
    assert PASSWORD not in repr(cfg) and PASSWORD not in cfg.display_source
