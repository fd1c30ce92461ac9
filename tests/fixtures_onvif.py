"""Fixtures that run a real ONVIF device on loopback: ipycam (PyPI), not written by us.

Usage (pytest plugin, registered in tests/conftest.py)::

    async def test_x(onvif_device):
        device = onvif_device()                    # or onvif_device(clock_offset=600)
        device.host, device.port                   # ONVIF HTTP (device/media/PTZ services)
        device.user, device.password               # WS-Security UsernameToken credentials
        device.discovery_port                      # WS-Discovery responder (UDP, loopback)
        device.source()                            # "onvif://user:pass@127.0.0.1:PORT/?profile=main"
        device.camera                              # the GStreamer test camera its stream URIs point at

The device is ipycam 1.3.0 (installed by scripts/test with ``pip install --no-deps``: its
``opencv-python`` requirement would clash with our ``opencv-python-headless``, which gives it
the same ``cv2``). It serves WS-Discovery, device (GetDeviceInformation, GetSystemDateAndTime,
GetServices, GetCapabilities, GetScopes), Media1 (GetProfiles: ``Profile_Main`` and
``Profile_Sub``, both H.264; GetStreamUri; GetSnapshotUri, HTTP Basic) and PTZ with presets,
with WS-Security PasswordDigest. It has no events service and no Media2. Its advertised RTSP
stream is our GStreamer test camera (mounts ``main`` and ``sub``), so Pantau records real
H.264 through an ``onvif://`` source. See tests/onvif/device_server.py for the two things the
harness changes: the clock offset, and GetSystemDateAndTime without credentials (ONVIF's
PRE_AUTH class, which ipycam does not honour).

Each device gets its own ports; the WS-Discovery responder listens on its own UDP port on
127.0.0.1 (not 3702), so directed probes reach exactly this device even when other test
processes run devices at the same time. Everything started is stopped at teardown.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fixtures_camera import CameraServer, _readline, free_port

DEVICE_SCRIPT = Path(__file__).parent / "onvif" / "device_server.py"
READY_TIMEOUT_S = 20.0
DEFAULT_USER = "admin"
DEFAULT_PASSWORD = "onvif-Secret-42"


def free_udp_port() -> int:
    """A UDP port on loopback that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OnvifDevice:
    """A running ipycam ONVIF device whose streams are a GStreamer test camera's mounts."""

    def __init__(
        self,
        camera: CameraServer,
        user: str = DEFAULT_USER,
        password: str = DEFAULT_PASSWORD,
        clock_offset: float = 0.0,
        serial: str = "PT-0001",
    ) -> None:
        self.camera = camera
        self.host = "127.0.0.1"
        self.port = free_port()
        self.discovery_port = free_udp_port()
        self.user = user
        self.password = password
        self.clock_offset = clock_offset
        self.serial = serial
        self._proc: subprocess.Popen[str] | None = None

    def source(self, profile: str = "main", user: str | None = None, password: str | None = None) -> str:
        """The onvif:// camera source for Pantau's config."""
        return (
            f"onvif://{user or self.user}:{password or self.password}@{self.host}:{self.port}/"
            f"?profile={profile}"
        )

    @property
    def xaddr(self) -> str:
        """The device service address."""
        return f"http://{self.host}:{self.port}/onvif/device_service"

    def start(self) -> None:
        """Start the device and wait until it serves."""
        cmd = [
            sys.executable,
            str(DEVICE_SCRIPT),
            "--onvif-port", str(self.port),
            "--discovery-port", str(self.discovery_port),
            "--rtsp-port", str(self.camera.port),
            "--main", "main",
            "--sub", "sub",
            "--user", self.user,
            "--password", self.password,
            "--clock-offset", str(self.clock_offset),
            "--serial", self.serial,
        ]  # fmt: skip
        errors = tempfile.TemporaryFile("w+")
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            start_new_session=True,
        )
        self._proc = proc
        line = _readline(proc, time.monotonic() + READY_TIMEOUT_S)
        if line != "ready":
            self.stop()
            errors.seek(0)
            message = errors.read()[-2000:]
            errors.close()
            raise RuntimeError(f"ONVIF device did not start: {line!r} {message}")
        errors.close()

    def stop(self) -> None:
        """Stop the device process and wait for it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture
def onvif_device(
    camera_server: Callable[..., CameraServer],
) -> Iterator[Callable[..., OnvifDevice]]:
    """Factory: onvif_device(clock_offset=0.0, password=...) starts an ONVIF device; stopped at teardown.

    All devices of one test share one GStreamer test camera (mounts "main" and "sub").
    """
    devices: list[OnvifDevice] = []
    shared: list[CameraServer] = []

    def start(**kwargs: object) -> OnvifDevice:
        if not shared:
            shared.append(camera_server({"main": "ball", "sub": "ball"}))
        device = OnvifDevice(shared[0], **kwargs)  # type: ignore[arg-type]
        devices.append(device)
        device.start()
        return device

    yield start
    for device in devices:
        device.stop()
