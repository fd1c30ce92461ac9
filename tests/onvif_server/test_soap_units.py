"""The hardened SOAP parser and the WS-UsernameToken checks, without a server."""

from __future__ import annotations

import base64
import hashlib
import time
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from core.clock import ManualClock
from onvif_server.soap import MAX_REQUEST_BYTES, SoapFault, fault_envelope, not_authorized, parse_request
from onvif_server.usernametoken import TokenChecker, TokenRefused
from tests.onvif_server.test_facade_e2e import BILLION_LAUGHS

ENV = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DIGEST = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
TEXT = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
NOW = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)


def request(header: str = "", op: str = "GetProfiles") -> bytes:
    return (f'<s:Envelope xmlns:s="{ENV}"><s:Header>{header}</s:Header><s:Body>'
            f'<{op} xmlns="http://www.onvif.org/ver10/media/wsdl"/></s:Body></s:Envelope>').encode()


def token(user: str, password: str, created: datetime, nonce: bytes = b"0123456789abcdef",
          digest: bool = True) -> str:
    created_text = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    value = (base64.b64encode(hashlib.sha1(nonce + created_text.encode() + password.encode()).digest()).decode()
             if digest else password)
    return (f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
            f"<wsse:Username>{user}</wsse:Username>"
            f'<wsse:Password Type="{DIGEST if digest else TEXT}">{value}</wsse:Password>'
            f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>"
            f"<wsu:Created>{created_text}</wsu:Created></wsse:UsernameToken></wsse:Security>")


def test_a_request_names_its_operation_and_security_header() -> None:
    parsed = parse_request(request(token("nvr", "pw", NOW)))
    assert (parsed.operation, parsed.namespace) == ("GetProfiles", "http://www.onvif.org/ver10/media/wsdl")
    assert parsed.security is not None


@pytest.mark.parametrize("body, why", [
    (BILLION_LAUGHS, "DTD"),
    # An external entity (XXE): refused before any resolution is attempted.
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
     b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><a>&e;</a></s:Body></s:Envelope>', "DTD"),
    # The same attack in UTF-16, which a byte search for "<!DOCTYPE" would not see.
    ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'.encode("utf-16"), "UTF-8"),
    (b"<a>" + b"x" * MAX_REQUEST_BYTES + b"</a>", "larger"),
    (b"<not-closed>", "well-formed"),
    (b'<x:Envelope xmlns:x="http://schemas.xmlsoap.org/soap/envelope/"><x:Body/></x:Envelope>', "SOAP 1.2"),
])
def test_hostile_or_wrong_bodies_are_refused_quickly(body: bytes, why: str) -> None:
    started = time.perf_counter()
    with pytest.raises(SoapFault) as refused:
        parse_request(body)
    assert time.perf_counter() - started < 0.5
    assert why in refused.value.reason and refused.value.status == 400


def test_faults_carry_onvif_subcodes() -> None:
    root = etree.fromstring(fault_envelope(not_authorized()))
    values = [v.text for v in root.iter(f"{{{ENV}}}Value")]
    assert values == ["s:Sender", "ter:NotAuthorized"]


async def _password(name: str) -> str | None:
    return {"nvr": "nvr-password-1"}.get(name)


async def test_digest_text_skew_and_replay() -> None:
    clock = ManualClock(NOW)
    checker = TokenChecker(clock, 300, _password)

    def security(xml: str) -> etree._Element:
        found = parse_request(request(xml)).security
        assert found is not None
        return found

    assert await checker.check(security(token("nvr", "nvr-password-1", NOW))) == "nvr"
    with pytest.raises(TokenRefused, match="used before"):
        await checker.check(security(token("nvr", "nvr-password-1", NOW)))
    assert await checker.check(security(token("nvr", "nvr-password-1", NOW - timedelta(seconds=299),
                                              nonce=b"another nonce"))) == "nvr"
    with pytest.raises(TokenRefused, match="from the server's clock"):
        await checker.check(security(token("nvr", "nvr-password-1", NOW + timedelta(seconds=301), nonce=b"n3")))
    with pytest.raises(TokenRefused, match="wrong password"):
        await checker.check(security(token("nvr", "guess", NOW, nonce=b"n4")))
    with pytest.raises(TokenRefused, match="no enabled integrator"):
        await checker.check(security(token("admin", "nvr-password-1", NOW, nonce=b"n5")))
    assert await checker.check(security(token("nvr", "nvr-password-1", NOW, nonce=b"n6", digest=False))) == "nvr"
    with pytest.raises(TokenRefused, match="no WS-Security"):
        await checker.check(None)
    # Long after, the first nonce has left the cache, and its Created is stale anyway.
    clock.advance(3600)
    with pytest.raises(TokenRefused, match="from the server's clock"):
        await checker.check(security(token("nvr", "nvr-password-1", NOW)))
