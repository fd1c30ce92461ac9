"""The pure parts of WebRTC networking, table-checked: trickle fragments (RFC 8840), Link header
values, the NAT 1:1 candidates added to an answer, and the session caps' counting."""

from __future__ import annotations

import ipaddress

import pytest

from core.errors import BadRequest, Unavailable
from core.webrtcconfig import WebRtcConfig
from webrtc.ice import IceNetwork, with_additional_hosts
from webrtc.limits import Cap, SessionLimits
from webrtc.trickle import MAX_CANDIDATES, parse_fragment

HOST = "1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1"
SRFLX = "842163049 1 udp 1677729535 198.51.100.2 61765 typ srflx raddr 192.0.2.1 rport 61764"


def test_fragment_of_rfc_8840_shape() -> None:
    frag = parse_fragment(
        "a=ice-options:trickle ice2\r\na=group:BUNDLE 0 1\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\n"
        "a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n"
        f"a=candidate:{HOST}\r\na=candidate:{SRFLX}\r\na=end-of-candidates\r\n"
        "m=video 9 RTP/AVP 96\r\na=mid:1\r\na=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n"
    )
    assert (frag.ufrag, frag.pwd, frag.end) == ("EsAw", "P2uYro0UCOQ4zxjKXaWCBui1", True)
    assert [(c.mid, c.index, c.candidate.ip, c.candidate.port, c.candidate.type) for c in frag.candidates] == [
        ("0", 0, "192.0.2.1", 61764, "host"), ("0", 0, "198.51.100.2", 61765, "srflx")]
    assert frag.candidates[1].candidate.relatedAddress == "192.0.2.1"


@pytest.mark.parametrize(("text", "mids"), [
    (f"a=candidate:{HOST}\n", [(None, 0)]),  # no media section: the first one's
    (f"m=video 9 UDP/TLS/RTP/SAVPF 96\na=candidate:{HOST}\na=mid:v\n", [("v", 0)]),  # a=mid after the candidate
    (f"m=audio 9 X 0\nm=video 9 X 96\na=candidate:{HOST}\n", [(None, 1)]),
    ("a=end-of-candidates\n", []),
    ("\r\n\r\n", []),
])
def test_fragment_sections(text: str, mids: list[tuple[str | None, int]]) -> None:
    assert [(c.mid, c.index) for c in parse_fragment(text).candidates] == mids


@pytest.mark.parametrize("text", [
    "garbage",
    "a=candidate:1 1 udp 1 192.0.2.1 1 typ\n",  # too short
    "a=candidate:1 1 udp 1 192.0.2.1 70000 typ host\n",  # port
    "a=candidate:1 0 udp 1 192.0.2.1 9 typ host\n",  # component
    "a=candidate:1 1 sctp 1 192.0.2.1 9 typ host\n",  # transport
    "a=candidate:1 1 udp 1 192.0.2.1 9 kind host\n",
    "a=candidate:1 1 udp 1 192.0.2.1 9 typ magic\n",
    "a=candidate:1 1 udp x 192.0.2.1 9 typ host\n",
    "a=ice-ufrag:a\nm=video 9 X 96\na=ice-ufrag:b\n",  # two ufrags
    "".join(f"a=candidate:{i} 1 udp 1 192.0.2.1 {i + 1} typ host\n" for i in range(MAX_CANDIDATES + 1)),
])
def test_bad_fragments_are_refused(text: str) -> None:
    with pytest.raises(BadRequest):
        parse_fragment(text)


def test_link_headers_hide_turn_without_credentials_and_quote_them() -> None:
    network = IceNetwork(WebRtcConfig(ice_servers=[
        {"urls": ["stun:stun.example:3478", "stun:[2001:db8::1]:3478"]},
        {"urls": ["turn:turn.example:3478?transport=udp", "turns:turn.example:5349?transport=tcp"],
         "username": "wall", "credential": 'p"a\\ss'},
    ]))
    stun = ['<stun:stun.example:3478>; rel="ice-server"', '<stun:[2001:db8::1]:3478>; rel="ice-server"']
    assert network.link_headers(credentials=False) == stun
    creds = '; username="wall"; credential="p\\"a\\\\ss"; credential-type="password"'
    assert network.link_headers(credentials=True) == [
        *stun, f'<turn:turn.example:3478?transport=udp>; rel="ice-server"{creds}',
        f'<turns:turn.example:5349?transport=tcp>; rel="ice-server"{creds}']
    assert network.client_servers()[1] == {"urls": ["turn:turn.example:3478?transport=udp",
                                                    "turns:turn.example:5349?transport=tcp"],
                                           "username": "wall", "credential": 'p"a\\ss'}
    config = network.configuration()
    assert config.iceServers is not None and [s.urls for s in config.iceServers] == [
        ["stun:stun.example:3478", "stun:[2001:db8::1]:3478"],
        ["turn:turn.example:3478?transport=udp", "turns:turn.example:5349?transport=tcp"]]
    # Never aiortc's default (a public STUN server) when none is configured.
    assert IceNetwork(WebRtcConfig()).configuration().iceServers == []


ANSWER = (
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n"
    "a=candidate:a 1 udp 2130706431 10.0.0.5 40000 typ host\r\n"
    "a=candidate:b 1 udp 2130706431 fd00::5 40002 typ host\r\n"
    "a=candidate:c 1 udp 1694498815 198.51.100.9 40000 typ srflx raddr 10.0.0.5 rport 40000\r\n"
    "a=candidate:d 1 tcp 1 10.0.0.5 9 typ host tcptype active\r\n"
    "a=end-of-candidates\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:1\r\n"
    "a=candidate:a 1 udp 2130706431 10.0.0.5 40000 typ host\r\n"
)


def test_additional_hosts_share_the_ports_of_local_host_candidates_of_their_family() -> None:
    out = with_additional_hosts(ANSWER, [ipaddress.ip_address("203.0.113.7"), ipaddress.ip_address("2001:db8::7")])
    lines = out.splitlines()
    added = [line for line in lines if "203.0.113.7" in line or "2001:db8::7" in line]
    assert [line.split()[4:8] for line in added] == [
        ["203.0.113.7", "40000", "typ", "host"], ["2001:db8::7", "40002", "typ", "host"],
        ["203.0.113.7", "40000", "typ", "host"]]
    # Before a=end-of-candidates, and the rest untouched.
    assert lines.index("a=end-of-candidates") > max(lines.index(a) for a in added[:2])
    assert [line for line in lines if line not in added] == ANSWER.rstrip("\r\n").split("\r\n")
    # A lower priority than the real host candidate's: a viewer that reaches both tries it first.
    assert int(added[0].split()[3]) < 2130706431
    assert with_additional_hosts(ANSWER, [ipaddress.ip_address("192.0.2.1")]).count("192.0.2.1") == 2


def test_caps_count_reservations_in_total_and_per_holder() -> None:
    limits = SessionLimits(max_sessions=3, max_per_holder=2)
    a1, a2 = limits.reserve("ana"), limits.reserve("ana")
    with pytest.raises(Unavailable, match="max_sessions_per_user") as refused:
        limits.reserve("ana")
    assert refused.value.retry_after_s is not None and refused.value.retry_after_s > 0
    b1 = limits.reserve("token:1")
    with pytest.raises(Unavailable, match=r"webrtc\.max_sessions\)"):
        limits.reserve("bob")
    assert limits.in_use == 3 and limits.refused == {Cap.MAX_SESSIONS_PER_USER: 1, Cap.MAX_SESSIONS: 1}
    a1.release()
    a1.release()  # a second release gives nothing back twice
    assert limits.in_use == 2 and limits.held_by("ana") == 1
    limits.reserve("ana")
    for r in (a2, b1):
        r.release()
    assert limits.in_use == 1 and limits.held_by("token:1") == 0


async def test_trickled_candidates_reach_the_bundles_transport_of_a_real_peer() -> None:
    """Against real aiortc peers (no network needed): a playback-shaped offer (video and a data
    channel, bundled) without candidates; candidates trickled for either section reach the one
    transport they share; a restart or an unknown section is refused."""
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import VideoStreamTrack

    from core.errors import Unprocessable
    from webrtc.trickle import add_candidates

    client, server = (RTCPeerConnection(RTCConfiguration(iceServers=[])) for _ in range(2))
    try:
        client.addTransceiver("video", direction="recvonly")
        client.createDataChannel("control")
        await client.setLocalDescription(await client.createOffer())
        offer = client.localDescription.sdp
        stripped = "".join(line + "\r\n" for line in offer.splitlines()
                           if not line.startswith(("a=candidate:", "a=end-of-candidates")))
        server.addTrack(VideoStreamTrack())
        await server.setRemoteDescription(RTCSessionDescription(sdp=stripped, type="offer"))
        await server.setLocalDescription(await server.createAnswer())
        ufrag = next(line.split(":", 1)[1] for line in offer.splitlines() if line.startswith("a=ice-ufrag:"))
        pwd = next(line.split(":", 1)[1] for line in offer.splitlines() if line.startswith("a=ice-pwd:"))
        transport = server.getTransceivers()[0].receiver.transport.transport
        assert transport.getRemoteCandidates() == []

        added = await add_candidates(server, parse_fragment(
            f"a=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
            f"a=mid:1\r\na=candidate:{HOST}\r\n"))
        assert added == 1
        assert [(c.ip, c.port) for c in transport.getRemoteCandidates()] == [("192.0.2.1", 61764)]
        await add_candidates(server, parse_fragment(f"m=video 9 X 96\r\na=mid:0\r\na=candidate:{SRFLX}\r\n"))
        assert len(transport.getRemoteCandidates()) == 2

        with pytest.raises(Unprocessable):
            await add_candidates(server, parse_fragment(f"a=ice-ufrag:other\r\na=ice-pwd:{pwd}\r\n"))
        with pytest.raises(BadRequest, match="no media section"):
            await add_candidates(server, parse_fragment(f"m=video 9 X 96\r\na=mid:7\r\na=candidate:{HOST}\r\n"))
    finally:
        await client.close()
        await server.close()
