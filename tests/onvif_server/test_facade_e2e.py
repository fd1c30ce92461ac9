"""Issue 17's ONVIF acceptance: a client that is not ours (onvif-zeep-async's ONVIFCamera, the library
Pantau itself uses on real cameras) adds Pantau as a camera: update_xaddrs, GetDeviceInformation,
GetProfiles (only the cameras the integrator account sees), GetStreamUri (the RTSP restream's URL);
wrong credentials give ter:NotAuthorized and a failed sign-in in the access log; a billion-laughs
body is refused at once while another client's call still succeeds."""

from __future__ import annotations

import asyncio
import base64
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import zeep.exceptions

import onvif_adapters  # noqa: F401  (imports onvif with the root logger kept: PITFALLS)
from core.config import CameraConfig
from onvif import ONVIFCamera
from tests.fixtures_camera import CameraServer, free_port
from tests.fixtures_onvif import free_udp_port
from tests.gatewayutil import Client, make_settings, running_gateway, until
from tests.onvif_server.schemas import DEVICE as DEVICE_NS, MEDIA as MEDIA_NS, soap, validate_device_response, validate_media_response

USER, PASSWORD = "nvr", "nvr-password-1"

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>
<GetDeviceInformation xmlns="http://www.onvif.org/ver10/device/wsdl">&lol9;</GetDeviceInformation>
</s:Body></s:Envelope>"""


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def settings_for(tmp_path: Path, server: CameraServer, visible: tuple[str, ...] = ("gates",), **onvif: Any) -> Any:
    cameras = [
        CameraConfig(id="gate", name="Gate", source=server.url("main"), substream=server.url("sub"),
                     groups=["gates"], record=False),
        CameraConfig(id="yard", source=server.url("main"), groups=["yard"], record=False),
    ]
    return make_settings(
        tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cameras,
        access={"visibility": {"admin": ["*"], "integrator": list(visible)}},
        # Its own port: once the restream runs (restream/), parallel tests must not share one.
        restream={"rtsp": {"enabled": True, "port": free_port()}},
        onvif_server={"enabled": True, "discovery_port": free_udp_port(), **onvif},
    )


async def sign_in_failures(client: Client, admin: str) -> list[dict[str, Any]]:
    body = await client.get_json("/api/v1/access-log?action=sign_in_failed&limit=100", admin)
    return [e["payload"] for e in body["entries"]]


@pytest.fixture
async def onvif_client() -> AsyncIterator[Callable[..., ONVIFCamera]]:
    made: list[ONVIFCamera] = []

    def make(port: int, user: str = USER, password: str = PASSWORD) -> ONVIFCamera:
        camera = ONVIFCamera("127.0.0.1", port, user, password, adjust_time=True)
        made.append(camera)
        return camera

    yield make
    for camera in made:
        await camera.close()


@pytest.mark.timeout(90)
async def test_an_onvif_client_adds_pantau_and_sees_only_its_cameras(
    tmp_path: Path, camera_server: Callable[..., CameraServer], onvif_client: Callable[..., ONVIFCamera]
) -> None:
    server = camera_server({"main": "ball", "sub": "smpte"})
    settings = settings_for(tmp_path, server)
    rtsp_port = settings.restream.rtsp.port
    async with running_gateway(settings) as client:
        services = client.gateway.services
        assert services is not None and client.gateway.port is not None
        await services.users.add(USER, "integrator", PASSWORD)
        admin = await client.sign_in("admin", client.admin_password())

        async def streams_known() -> bool:
            gate = await client.get_json("/api/v1/cameras/gate", admin)
            return all(s["codec"] == "h264" for s in gate["streams"].values())

        await until(streams_known, within=30, what="the gate camera's streams connected")

        camera = onvif_client(client.gateway.port)
        await camera.update_xaddrs()
        devicemgmt = await camera.create_devicemgmt_service()
        info = await devicemgmt.GetDeviceInformation()
        assert info.Manufacturer == "Pantau" and info.Model == "Pantau gateway"
        media = await camera.create_media_service()
        profiles = await media.GetProfiles()
        # The integrator sees the "gates" group only: the yard camera is not listed.
        assert [p.token for p in profiles] == ["gate", "gate__sub"]
        main = profiles[0]
        assert main.VideoEncoderConfiguration.Encoding == "H264"
        assert (main.VideoEncoderConfiguration.Resolution.Width,
                main.VideoEncoderConfiguration.Resolution.Height) == (640, 360)
        setup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
        uri = await media.GetStreamUri({"StreamSetup": setup, "ProfileToken": "gate"})
        assert uri.Uri == f"rtsp://127.0.0.1:{rtsp_port}/gate"
        sub = await media.GetStreamUri({"StreamSetup": setup, "ProfileToken": "gate__sub"})
        assert sub.Uri == f"rtsp://127.0.0.1:{rtsp_port}/gate/sub"
        # The snapshot URL, fetched by the library's own helper (HTTP Digest, as from a camera).
        jpeg = await camera.get_snapshot("gate__sub")
        assert jpeg is not None and jpeg[:2] == b"\xff\xd8"
        snap = await media.GetSnapshotUri({"ProfileToken": "gate"})
        async with client.http.get(snap.Uri, headers=basic(USER, "guessed-wrong")) as resp:
            assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Digest ")
        async with client.http.get(snap.Uri.replace("/gate", "/yard"), headers=basic(USER, PASSWORD)) as resp:
            assert resp.status == 404  # a camera the account may not see
        with pytest.raises(zeep.exceptions.Fault) as hidden:
            await media.GetStreamUri({"StreamSetup": setup, "ProfileToken": "yard"})
        assert "NoProfile" in [q.localname for q in hidden.value.subcodes]

        # The answers hold to the ONVIF schema (lxml XMLSchema over the WSDLs' own types).
        base = f"http://127.0.0.1:{client.gateway.port}"
        for operation in ("GetProfiles", "GetVideoSources", "GetVideoSourceConfigurations",
                          "GetVideoEncoderConfigurations", "GetServiceCapabilities"):
            await validate_media_response(client.http, base, operation, USER, PASSWORD)
        for operation, inner, signed in (
            ("GetSystemDateAndTime", "", False), ("GetCapabilities", "<Category>All</Category>", False),
            ("GetServices", "<IncludeCapability>false</IncludeCapability>", False), ("GetHostname", "", False),
            ("GetDeviceInformation", "", True), ("GetScopes", "", True),
        ):
            await validate_device_response(client.http, base, operation, USER if signed else None,
                                           PASSWORD if signed else None, inner)

        decisions = (await client.get_json("/api/v1/access-log?action=decision&limit=100", admin))["entries"]
        listed = [e["payload"] for e in decisions if e["payload"]["details"].get("operation") == "GetProfiles"]
        assert listed and listed[0]["details"]["shown"] == "gate" and listed[0]["details"]["hidden"] == "yard"
        refused = [e["payload"] for e in decisions if e["payload"]["details"].get("operation") == "GetStreamUri"
                   and e["payload"]["outcome"] == "deny"]
        assert [e["camera"] for e in refused] == ["yard"]

        # Wrong password: NotAuthorized (zeep raises the SOAP fault), and a failed sign-in is logged.
        intruder = onvif_client(client.gateway.port, password="guessed-wrong")
        await intruder.update_xaddrs()  # GetSystemDateAndTime, GetServices: no credentials needed
        wrong = await intruder.create_devicemgmt_service()
        with pytest.raises(zeep.exceptions.Fault) as denied:
            await wrong.GetDeviceInformation()
        assert [q.localname for q in denied.value.subcodes] == ["NotAuthorized"]
        failures = await sign_in_failures(client, admin)
        assert any(f["actor"] == USER and f["details"]["via"] == "onvif" and "wrong password" in f["reason"]
                   for f in failures), failures
        assert any("ONVIF snapshot: wrong username or password" in f["reason"] for f in failures), failures


@pytest.mark.timeout(60)
async def test_a_billion_laughs_body_is_refused_at_once_and_others_are_served(
    tmp_path: Path, camera_server: Callable[..., CameraServer], onvif_client: Callable[..., ONVIFCamera]
) -> None:
    server = camera_server({"main": "ball", "sub": "smpte"})
    async with running_gateway(settings_for(tmp_path, server)) as client:
        services = client.gateway.services
        assert services is not None and client.gateway.port is not None
        await services.users.add(USER, "integrator", PASSWORD)
        admin = await client.sign_in("admin", client.admin_password())
        camera = onvif_client(client.gateway.port)
        await camera.update_xaddrs()
        media = await camera.create_media_service()
        url = client.url("/onvif/device_service")

        async def attack() -> float:
            started = time.monotonic()
            async with client.http.post(url, data=BILLION_LAUGHS,
                                        headers={"Content-Type": "application/soap+xml"}) as resp:
                text = await resp.text()
                assert resp.status == 400, (resp.status, text)
                assert "ter:WellFormed" in text and "must not contain a DTD" in text
            return time.monotonic() - started

        results = await asyncio.gather(*(attack() for _ in range(20)), media.GetProfiles())
        times, profiles = results[:-1], results[-1]
        assert [p.token for p in profiles] == ["gate", "gate__sub"]
        assert max(times) < 2.0, times  # refused before any parse; the bound allows for a slow CI machine

        # Larger than a SOAP request may be: 413 without reading on.
        async with client.http.post(url, data=b"<a>" + b"x" * (70 * 1024) + b"</a>") as resp:
            assert resp.status == 413
        refusals = (await client.get_json("/api/v1/access-log?action=decision&outcome=deny&limit=100", admin))
        # Logged, but a flood is one entry a minute per client (the others counted in the next one).
        assert len([e for e in refusals["entries"] if "DTD" in e["payload"]["reason"]]) == 1


def wsdiscovery_probe(port: int) -> list[Any]:
    """A Probe for dn:NetworkVideoTransmitter built by the wsdiscovery package, sent unicast to
    127.0.0.1:`port`; the matches its parser reads from the answers within a second.

    (wsdiscovery's own ThreadedWSDiscovery cannot do a directed probe: it sends from a socket it
    never reads, so unicast answers are lost; PITFALLS.)"""
    from wsdiscovery import QName
    from wsdiscovery.actions import constructProbe
    from wsdiscovery.message import createSOAPMessage, parseSOAPMessage

    nvt = QName("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter", "dn")
    probe = createSOAPMessage(constructProbe([nvt], [])).encode()
    matches: list[Any] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.3)
        sock.sendto(probe, ("127.0.0.1", port))
        sock.sendto(probe, ("127.0.0.1", port))  # the retransmission WS-Discovery asks for: answered once
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            try:
                data, _ = sock.recvfrom(65536)
            except TimeoutError:
                continue
            env = parseSOAPMessage(data, "127.0.0.1")
            assert env is not None, data
            matches.extend(env.getProbeResolveMatches())
    return matches


@pytest.mark.timeout(60)
async def test_ws_discovery_finds_the_node_and_per_camera_devices(
    tmp_path: Path, camera_server: Callable[..., CameraServer]
) -> None:
    server = camera_server({"main": "ball", "sub": "smpte"})
    for per_camera in (False, True):
        settings = settings_for(tmp_path / str(per_camera), server, ("gates", "yard"), per_camera=per_camera)
        async with running_gateway(settings) as client:
            found = await asyncio.to_thread(wsdiscovery_probe, settings.onvif_server.discovery_port)
            xaddrs = sorted(x for m in found for x in m.getXAddrs())
            base = f"http://127.0.0.1:{client.gateway.port}/onvif/device_service"
            if per_camera:
                assert xaddrs == [f"{base}?camera=gate", f"{base}?camera=yard"]
                assert len({m.getEPR() for m in found}) == 2
                # The camera's own device: its services carry ?camera=, its profiles are its own only.
                assert client.gateway.services is not None
                await client.gateway.services.users.add(USER, "integrator", PASSWORD)
                status, services = await soap(client.http, f"{base}?camera=gate", "GetServices", DEVICE_NS, inner=(
                    "<IncludeCapability>false</IncludeCapability>"))
                media_xaddr = next(s.findtext("{*}XAddr") for s in services
                                   if s.findtext("{*}Namespace") == "http://www.onvif.org/ver10/media/wsdl")
                assert status == 200 and media_xaddr.endswith("/onvif/media_service?camera=gate")
                status, profiles = await soap(client.http, media_xaddr, "GetProfiles", MEDIA_NS, USER, PASSWORD)
                assert [p.get("token") for p in profiles] == ["gate", "gate__sub"]  # the node's would list yard too
            else:
                assert xaddrs == [base]
                assert "onvif://www.onvif.org/name/Pantau" in [str(s) for s in found[0].getScopes()]


def multicast_loops_back() -> bool:
    """Whether a datagram sent to the WS-Discovery group comes back to a member on this machine."""
    port = free_udp_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as member, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        member.bind(("", port))
        try:
            member.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                              socket.inet_aton("239.255.255.250") + socket.inet_aton("0.0.0.0"))
            sender.sendto(b"ping", ("239.255.255.250", port))
        except OSError:
            return False
        member.settimeout(1.0)
        try:
            return member.recv(16) == b"ping"
        except TimeoutError:
            return False


@pytest.mark.timeout(60)
async def test_ws_discovery_multicast_search_by_the_wsdiscovery_package(
    tmp_path: Path, camera_server: Callable[..., CameraServer]
) -> None:
    """ThreadedWSDiscovery's multicast search (to 239.255.255.250:3702) finds the node. Our
    responder binds 3702 with SO_REUSEADDR, as the client does, so other tests' responders on
    their own ports do not interfere. Skipped where the machine has no multicast route."""
    if not await asyncio.to_thread(multicast_loops_back):
        pytest.skip("multicast does not loop back on this machine")
    from wsdiscovery import QName
    from wsdiscovery.discovery import ThreadedWSDiscovery

    server = camera_server({"main": "ball"})
    settings = settings_for(tmp_path, server, discovery_port=3702)
    async with running_gateway(settings) as client:

        def search() -> list[Any]:
            wsd = ThreadedWSDiscovery()
            wsd.start()
            try:
                nvt = QName("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter", "dn")
                return list(wsd.searchServices(types=[nvt], timeout=2))
            finally:
                wsd.stop()

        found = await asyncio.to_thread(search)
        ours = [x for s in found for x in s.getXAddrs()
                if x.endswith(f":{client.gateway.port}/onvif/device_service")]
        assert len(ours) == 1, [s.getXAddrs() for s in found]
