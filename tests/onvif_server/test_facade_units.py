"""Pieces of the facade without a server: PullPoint ownership and limits, WS-Discovery matching and
rate, HTTP Digest nonces."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime

import pytest
from lxml import etree

from core.clock import ManualClock
from core.config import AccessConfig
from onvif_server.access import OnvifAccess
from onvif_server.calls import Call, Caller, ServiceName
from onvif_server.discovery import MAX_ANSWERS_PER_S, Announced, DiscoveryResponder, probe_matches
from onvif_server.events import MAX_PER_ACCOUNT, QUEUE, OnvifNotice, PullPoints
from onvif_server.httpdigest import REALM, DigestAuth, HttpAuthRefused
from onvif_server.soap import SoapFault, parse_request
from policy.audit.entries import AccessEvent

NOW = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)
TEV = "http://www.onvif.org/ver10/events/wsdl"


class Log:
    def __init__(self) -> None:
        self.events: list[AccessEvent] = []

    async def record(self, event: AccessEvent) -> None:
        self.events.append(event)


def body(op: str, namespace: str = TEV, inner: str = "") -> bytes:
    return (f'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
            f'<{op} xmlns="{namespace}">{inner}</{op}></s:Body></s:Envelope>').encode()


def call(subscription: str | None = None) -> Call:
    return Call(ServiceName.EVENTS, b"", "192.0.2.9", "http://192.0.2.1:8080", "192.0.2.1", None, subscription)


async def test_a_pullpoint_is_its_accounts_and_subscriptions_are_bounded() -> None:
    clock = ManualClock(NOW)
    points = PullPoints(OnvifAccess(AccessConfig(), clock, {}, Log()), clock, {})
    alice, bob = Caller("alice", "integrator"), Caller("bob", "integrator")
    answer = await points.create(call(), alice, parse_request(body("CreatePullPointSubscription",
                                                                   inner="<InitialTerminationTime>PT30S</InitialTerminationTime>")))
    address = answer.findtext(".//{http://www.w3.org/2005/08/addressing}Address")
    assert address.startswith("http://192.0.2.1:8080/onvif/events_service?subscription=")
    key = address.rsplit("=", 1)[1]
    with pytest.raises(SoapFault) as foreign:
        await points.pull(call(key), bob, parse_request(body("PullMessages", inner="<Timeout>PT0S</Timeout>")))
    assert foreign.value.subcodes == ("ter:NotAuthorized",)
    for _ in range(QUEUE + 5):
        points.publish(OnvifNotice("gate", "motion", True, NOW))
    assert len(points._points[key].queue) == QUEUE  # the oldest were dropped
    for _ in range(MAX_PER_ACCOUNT - 1):
        await points.create(call(), alice, parse_request(body("CreatePullPointSubscription")))
    with pytest.raises(SoapFault, match="too many"):
        await points.create(call(), alice, parse_request(body("CreatePullPointSubscription")))
    await points.create(call(), bob, parse_request(body("CreatePullPointSubscription")))
    clock.advance(3601)  # past every termination time (at most an hour)
    points.publish(OnvifNotice("gate", "motion", False, NOW))
    assert points.count == 0
    with pytest.raises(SoapFault, match="no such subscription"):
        await points.pull(call(key), alice, parse_request(body("PullMessages")))


def probe(types: str = "dn:NetworkVideoTransmitter", scopes: str | None = None) -> etree._Element:
    scope = f"<d:Scopes>{scopes}</d:Scopes>" if scopes is not None else ""
    return etree.fromstring(
        '<d:Probe xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
        'xmlns:dn="http://www.onvif.org/ver10/network/wsdl" xmlns:x="urn:other">'
        f"<d:Types>{types}</d:Types>{scope}</d:Probe>")


DEVICE = Announced(uuid.uuid4(), ("onvif://www.onvif.org/name/Pantau", "onvif://www.onvif.org/Profile/Streaming"), "/p")


@pytest.mark.parametrize("types, scopes, matches", [
    ("dn:NetworkVideoTransmitter", None, True),
    ("", None, True),
    ("x:Printer", None, False),
    ("dn:NetworkVideoTransmitter", "onvif://www.onvif.org/Profile", True),
    ("dn:NetworkVideoTransmitter", "onvif://www.onvif.org/Profile/Streaming", True),
    ("dn:NetworkVideoTransmitter", "onvif://www.onvif.org/Profile/G", False),
    ("dn:NetworkVideoTransmitter", "onvif://www.onvif.org/Prof", False),
])
def test_probe_matching(types: str, scopes: str | None, matches: bool) -> None:
    assert probe_matches(probe(types, scopes), DEVICE) is matches


def test_probes_beyond_the_rate_are_not_answered() -> None:
    clock = ManualClock(NOW)
    sent: list[tuple[bytes, object]] = []
    responder = DiscoveryResponder(lambda: [DEVICE], 8080, 3702, "192.0.2.1", clock)
    responder._send = lambda data, addr: sent.append((data, addr))  # type: ignore[method-assign]
    env = ('<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
           'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
           'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><s:Header>'
           '<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>'
           '<a:MessageID>urn:uuid:{}</a:MessageID></s:Header><s:Body><d:Probe/></s:Body></s:Envelope>')
    for _ in range(MAX_ANSWERS_PER_S + 10):
        responder.datagram_received(env.format(uuid.uuid4()).encode(), ("192.0.2.7", 5000))
    assert len(sent) == MAX_ANSWERS_PER_S
    assert b"http://192.0.2.1:8080/p" in sent[0][0]
    repeated = env.format(uuid.uuid4()).encode()
    clock.advance(1.5)
    responder.datagram_received(repeated, ("192.0.2.7", 5000))
    responder.datagram_received(repeated, ("192.0.2.7", 5000))  # a retransmission: answered once
    assert len(sent) == MAX_ANSWERS_PER_S + 1


async def test_digest_checks_response_uri_and_nonce_age() -> None:
    clock = ManualClock(NOW)

    async def password_of(name: str) -> str | None:
        return "pw-1234567890" if name == "nvr" else None

    auth = DigestAuth.create(clock, password_of)
    nonce = auth.challenge().split('nonce="')[1].split('"')[0]

    def header(uri: str, password: str = "pw-1234567890", user: str = "nvr") -> str:
        ha1 = hashlib.md5(f"{user}:{REALM}:{password}".encode()).hexdigest()
        ha2 = hashlib.md5(f"GET:{uri}".encode()).hexdigest()
        response = hashlib.md5(f"{ha1}:{nonce}:00000001:abc:auth:{ha2}".encode()).hexdigest()
        return (f'Digest username="{user}", realm="{REALM}", nonce="{nonce}", uri="{uri}", '
                f'response="{response}", qop=auth, nc=00000001, cnonce="abc"')

    assert await auth.check(header("/onvif/snapshot/gate"), "GET", "/onvif/snapshot/gate") == "nvr"
    with pytest.raises(HttpAuthRefused, match="do not match"):
        await auth.check(header("/onvif/snapshot/gate"), "GET", "/onvif/snapshot/yard")
    with pytest.raises(HttpAuthRefused, match="wrong password") as wrong:
        await auth.check(header("/s", password="guess"), "GET", "/s")
    assert wrong.value.username == "nvr"
    basic = "Basic " + base64.b64encode(b"nvr:pw-1234567890").decode()
    assert await auth.check(basic, "GET", "/s") == "nvr"
    clock.advance(301)
    with pytest.raises(HttpAuthRefused, match="stale"):
        await auth.check(header("/s"), "GET", "/s")
