"""rtsps:// cameras: the certificate is checked unless the camera says tls_verify: false. A TLS
listener with a self-signed certificate on loopback stands for the camera: it records the first
bytes the gateway sends once the handshake is done (the RTSP OPTIONS), or that none came."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509

from core.clock import SystemClock
from core.config import CameraConfig, HealthConfig
from core.errors import SourceError
from streams.camera import Camera
from streams.rtsp import RtspSource
from tests.test_http_tls import self_signed


class TlsCamera:
    """A TLS server that reads what comes after the handshake and hangs up."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.requests: list[bytes] = []
        self.port = 0

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            self.requests.append(await reader.read(100))
        except (ssl.SSLError, ConnectionError):
            pass  # the gateway refused the certificate
        finally:
            writer.close()


@pytest.fixture
async def camera(tmp_path: Path) -> AsyncIterator[tuple[TlsCamera, Path]]:
    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    fake = TlsCamera(context)
    server = await asyncio.start_server(fake._client, "127.0.0.1", 0, ssl=context)
    fake.port = server.sockets[0].getsockname()[1]
    async with server:
        yield fake, cert


async def try_open(config: CameraConfig) -> None:
    source = RtspSource(config)
    try:
        await asyncio.to_thread(source.open)
    except SourceError:
        pass  # the fake camera never answers the OPTIONS
    finally:
        source.close()


def config(port: int, **extra: object) -> CameraConfig:
    return CameraConfig.model_validate({"id": "door", "source": f"rtsps://127.0.0.1:{port}/live",
                                        "open_timeout_s": 3, "read_timeout_s": 2, **extra})


async def test_a_certificate_nobody_vouches_for_is_refused(camera: tuple[TlsCamera, Path]) -> None:
    fake, _ = camera
    await try_open(config(fake.port))
    assert not any(r.startswith(b"OPTIONS") for r in fake.requests), fake.requests


async def test_the_cameras_own_certificate_as_ca_file(camera: tuple[TlsCamera, Path]) -> None:
    fake, cert = camera
    await try_open(config(fake.port, tls_ca_file=cert))
    assert any(r.startswith(b"OPTIONS rtsps://127.0.0.1") for r in fake.requests), fake.requests


async def test_a_certificate_for_another_name_is_refused(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, x509.DNSName("camera.test"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    fake = TlsCamera(context)
    server = await asyncio.start_server(fake._client, "127.0.0.1", 0, ssl=context)
    async with server:
        await try_open(config(server.sockets[0].getsockname()[1], tls_ca_file=cert))
    assert not any(r.startswith(b"OPTIONS") for r in fake.requests), fake.requests


async def test_tls_verify_false_accepts_any_and_says_so(
    camera: tuple[TlsCamera, Path], caplog: pytest.LogCaptureFixture
) -> None:
    fake, _ = camera
    unchecked = config(fake.port, tls_verify=False, enabled=False)
    await try_open(unchecked)
    assert any(r.startswith(b"OPTIONS") for r in fake.requests), fake.requests
    caplog.set_level(logging.WARNING, logger="streams.camera")
    cam = Camera(unchecked, HealthConfig(), 16, SystemClock())
    task = asyncio.create_task(cam.run())
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert any("tls_verify is false" in r.getMessage() for r in caplog.records)
