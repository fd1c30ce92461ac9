"""webrtc.allowed_networks and webrtc.max_remote_candidates: the gateway sends connectivity checks
only to the viewer's candidates the rules keep, from the offer and from trickled PATCHes. UDP
sockets on loopback stand for the viewer's addresses; 127.0.0.2 is outside the allowed network."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from aiortc import RTCSessionDescription

from core.config import CameraConfig
from core.webrtcconfig import WebRtcConfig
from tests.gatewayutil import make_settings, running_gateway
from tests.test_whep import Viewer
from tests.test_whep_ice import FRAG, SDP, fragment, sqlite, without_candidates
from webrtc.remotecandidates import RemoteCandidates

CAMERAS = [CameraConfig(id="lobby", source="demo://pattern", enabled=False)]


def line(host: str, port: int, foundation: int = 1) -> str:
    return f"a=candidate:{foundation} 1 udp {2130706431 - foundation} {host} {port} typ host"


@pytest.mark.parametrize(("networks", "limit", "hosts", "kept"), [
    ([], 32, ["10.1.2.3", "192.168.1.9", "x.local"], ["10.1.2.3", "192.168.1.9", "x.local"]),
    (["10.0.0.0/8"], 32, ["10.1.2.3", "192.168.1.9", "x.local", "::ffff:10.0.0.1"], ["10.1.2.3", "::ffff:10.0.0.1"]),
    (["10.0.0.0/8", "fd00::/8"], 32, ["fd00::1", "fe80::1"], ["fd00::1"]),
    ([], 2, ["10.0.0.1", "10.0.0.2", "10.0.0.3"], ["10.0.0.1", "10.0.0.2"]),
    (["10.0.0.0/8"], 1, ["192.168.0.1", "10.0.0.1", "10.0.0.2"], ["10.0.0.1"]),
])
def test_screen_offer(networks: list[str], limit: int, hosts: list[str], kept: list[str]) -> None:
    rules = RemoteCandidates(WebRtcConfig(allowed_networks=networks, max_remote_candidates=limit))
    sdp = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n" + "".join(
        line(h, 5000 + i, i) + "\r\n" for i, h in enumerate(hosts)) + "a=end-of-candidates\r\n"
    screened = rules.budget("cam", "session-id").screen_offer(sdp)
    assert [x.split()[4] for x in screened.splitlines() if x.startswith("a=candidate:")] == kept
    # A screen that dropped a candidate does not pass the end of candidates on.
    assert screened.endswith("a=end-of-candidates\r\n") == (kept == hosts)


class Listener(asyncio.DatagramProtocol):
    """A UDP socket standing for one viewer address: counts the STUN binding requests it gets."""

    def __init__(self) -> None:
        self.checks = 0

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if data[:2] == b"\x00\x01":  # STUN Binding request
            self.checks += 1


async def listen(host: str) -> tuple[Listener, int, asyncio.DatagramTransport]:
    transport, protocol = await asyncio.get_running_loop().create_datagram_endpoint(Listener, local_addr=(host, 0))
    return protocol, transport.get_extra_info("sockname")[1], transport


@pytest.mark.parametrize("filtered", [True, False])
async def test_only_kept_candidates_are_checked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, filtered: bool
) -> None:
    webrtc = {"allowed_networks": ["127.0.0.1/32"], "max_remote_candidates": 3} if filtered else {}
    settings = make_settings(tmp_path, sqlite(tmp_path), CAMERAS, webrtc=webrtc)
    # Three in the offer, three trickled one PATCH each.
    hosts = ["127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.1", "127.0.0.2", "127.0.0.1"]
    sockets = [await listen(h) for h in hosts]
    caplog.set_level(logging.WARNING, logger="webrtc.remotecandidates")
    try:
        async with running_gateway(settings) as client:
            admin = await client.sign_in("admin", client.admin_password())
            viewer = Viewer()
            try:
                offer = without_candidates(await viewer.offer())
                lines = [line(h, port, i + 1) for i, (h, (_, port, _)) in enumerate(zip(hosts, sockets, strict=True))]
                body = offer + "\r\n".join(lines[:3]) + "\r\n"
                async with client.http.post(client.url("/whep/live/lobby"), data=body,
                                            headers={**SDP, "Authorization": f"Bearer {admin}"}) as resp:
                    assert resp.status == 201, await resp.text()
                    location = resp.headers["Location"]
                for candidate in lines[3:]:
                    async with client.http.patch(client.url(location), data=fragment(offer, candidate),
                                                 headers=dict(FRAG)) as resp:
                        assert resp.status == 204, await resp.text()
                # aioice checks a pair every 20 ms, and again while it gets no answer.
                await asyncio.sleep(3)
                checked = [listener.checks > 0 for listener, _, _ in sockets]
            finally:
                await viewer.close()
    finally:
        for _, _, transport in sockets:
            transport.close()
    if filtered:
        # Kept: the offer's two allowed ones and the first allowed trickled one (3 in all); the
        # 127.0.0.2 ones are outside, the last allowed one is beyond the limit.
        assert checked == [True, True, False, True, False, False], checked
        drops = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
        assert len(drops) == 1 and "1 outside webrtc.allowed_networks" in drops[0], drops
    else:
        assert all(checked), checked  # today's behaviour without the settings: every one


async def test_a_viewer_whose_candidates_are_all_dropped_connects_by_its_own_checks(tmp_path: Path) -> None:
    # A browser offers its host address as an mDNS name and ends its candidates: with
    # allowed_networks set nothing of it is kept, and the gateway pairs with the address the
    # viewer's checks come from (peer-reflexive).
    webrtc = {"allowed_networks": ["192.0.2.0/24"]}
    settings = make_settings(tmp_path, sqlite(tmp_path), CAMERAS, webrtc=webrtc)
    async with running_gateway(settings) as client:
        admin = await client.sign_in("admin", client.admin_password())
        viewer = Viewer()
        try:
            offer = await viewer.offer()
            port = next(x.split()[5] for x in offer.splitlines() if x.startswith("a=candidate:"))
            mdns = f"a=candidate:1 1 udp 2130706431 0b6f1c9e-5e0a-4c4c-9b1e-2f7d6c1a9e11.local {port} typ host"
            body = without_candidates(offer) + mdns + "\r\na=end-of-candidates\r\n"
            async with client.http.post(client.url("/whep/live/lobby"), data=body,
                                        headers={**SDP, "Authorization": f"Bearer {admin}"}) as resp:
                answer = await resp.text()
                assert resp.status == 201, answer
            await viewer.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            for _ in range(100):
                if viewer.pc.connectionState in ("connected", "failed"):
                    break
                await asyncio.sleep(0.1)
            assert viewer.pc.connectionState == "connected"
        finally:
            await viewer.close()
