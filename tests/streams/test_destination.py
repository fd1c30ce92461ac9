"""The destination check on every connect (streams/destination.py): where a camera's host name
resolves now is checked as the API checked it, and plain RTSP is pinned to the checked address, so a
name rebound after the check (DNS rebinding) cannot lead the gateway to a metadata service. The DNS is
the test's (an attacker's DNS is what the test plays); the camera and its RTSP are real."""

from __future__ import annotations

import ipaddress

import pytest

from core.clock import SystemClock
from core.config import CameraConfig, HealthConfig
from core.destinations import IpAddress
from core.errors import SourceError
from streams.camera import Camera
from streams.destination import DestinationGuard
from streams.state import CameraState
from tests.fixtures_camera import CameraServer
from tests.streams.camera_helpers import FAST, running, wait_until


class Dns:
    """A DNS whose answers the test changes; counts the questions."""

    def __init__(self, **answers: str) -> None:
        self.answers = {name.replace("_", "."): [ipaddress.ip_address(a) for a in v.split(",")] if v else []
                        for name, v in answers.items()}
        self.asked = 0

    def set(self, name: str, *addresses: str) -> None:
        self.answers[name] = [ipaddress.ip_address(a) for a in addresses]

    async def __call__(self, host: str) -> list[IpAddress]:
        self.asked += 1
        if host not in self.answers:
            raise OSError(-2, "Name or service not known")
        return list(self.answers[host])


def cfg(source: str) -> CameraConfig:
    return CameraConfig(id="cam", source=source)


@pytest.mark.parametrize(("source", "answer", "pinned"), [
    ("rtsp://user:p%40ss@cam.example:8554/live?x=1", "10.0.0.5", "rtsp://user:p%40ss@10.0.0.5:8554/live?x=1"),
    ("rtsp://cam.example/live", "fd00::5", "rtsp://[fd00::5]/live"),
    ("RTSP://cam.example:554/", "192.168.1.9", "rtsp://192.168.1.9:554/"),
    # TLS keeps its name (the certificate is checked against it); the addresses are checked all the same.
    ("rtsps://cam.example:322/live", "10.0.0.5", "rtsps://cam.example:322/live"),
    ("rtsp://10.0.0.7:554/live", "", "rtsp://10.0.0.7:554/live"),  # an address: nothing to resolve
    ("demo://pattern", "", "demo://pattern"),
])
async def test_pinned(source: str, answer: str, pinned: str) -> None:
    dns = Dns(cam_example=answer)
    assert (await DestinationGuard(resolve=dns).pin(cfg(source))).source == pinned


@pytest.mark.parametrize(("source", "answers", "networks", "says"), [
    ("rtsp://cam.example/live", ["169.254.169.254"], [], "cam.example resolves to 169.254.169.254 is link-local"),
    ("rtsps://cam.example/live", ["10.0.0.5", "169.254.169.254"], [], "link-local"),  # every address counts
    ("rtsp://cam.example/live", ["fd00:ec2::254"], [], "link-local"),
    ("rtsp://cam.example/live", ["0.0.0.0"], [], "unspecified"),
    ("rtsp://cam.example/live", ["192.168.1.5"], ["10.0.0.0/8"], "outside onboarding.allowed_networks"),
    ("rtsp://169.254.1.1/live", [], [], "169.254.1.1 is link-local"),
    ("rtsp://metadata.google.internal/x", ["10.0.0.5"], [], "cloud metadata service"),
])
async def test_refused(source: str, answers: list[str], networks: list[str], says: str) -> None:
    dns = Dns()
    for name in ("cam.example", "metadata.google.internal"):
        dns.set(name, *answers)
    guard = DestinationGuard([ipaddress.ip_network(n) for n in networks], resolve=dns)
    with pytest.raises(SourceError, match="destination refused") as refused:
        await guard.pin(cfg(source))
    assert says in str(refused.value) and refused.value.retriable


async def test_a_name_that_does_not_resolve_is_not_left_to_libav() -> None:
    dns = Dns()
    with pytest.raises(SourceError, match="does not resolve"):
        await DestinationGuard(resolve=dns).pin(cfg("rtsp://gone.example/live"))
    dns.set("empty.example")
    with pytest.raises(SourceError, match="no address"):
        await DestinationGuard(resolve=dns).pin(cfg("rtsp://empty.example/live"))


async def test_a_camera_whose_name_is_rebound_stops_connecting_there(camera_server) -> None:  # type: ignore[no-untyped-def]
    server: CameraServer = camera_server({"live": "ball"})
    name = "cam.rebind.test"
    dns = Dns()
    dns.set(name, "127.0.0.1")
    config = CameraConfig(id="cam", source=server.url("live").replace("127.0.0.1", name), **FAST)  # type: ignore[arg-type]
    camera = Camera(config, HealthConfig(), 64, SystemClock(), guard=DestinationGuard(resolve=dns))
    async with running(camera):
        # The name resolves to the camera: libav is handed the checked address and plays it.
        await wait_until(lambda: camera.status.state == CameraState.ONLINE, 10, "online through the pinned address")
        asked = dns.asked
        # The name's owner rebinds it to the metadata service, and the connection drops.
        dns.set(name, "169.254.169.254")
        server.stop()
        await wait_until(lambda: camera.status.state == CameraState.OFFLINE, 5, "offline")
        server.start()
        await wait_until(lambda: "destination refused" in (camera.status.reason or ""), 10, "the rebound name refused")
        assert dns.asked > asked  # asked again at the reconnect, not remembered from the first
        assert camera.status.state != CameraState.ONLINE
        # Back to the camera's address: it plays again.
        dns.set(name, "127.0.0.1")
        await wait_until(lambda: camera.status.state == CameraState.ONLINE, 10, "online again")
