"""server.trusted_proxies: X-Forwarded-For names the client only when the TCP peer is a trusted
proxy. Raw requests from two loopback addresses: 127.0.0.2 plays the proxy, 127.0.0.1 a stranger."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.http.proxies import TrustedProxies
from tests.gatewayutil import Client, make_settings, running_gateway
from tests.test_api_accesslog import entries

PROXY = "127.0.0.2"
STRANGER = "127.0.0.1"


@pytest.mark.parametrize(("peer", "header", "client"), [
    ("10.0.0.5", ["198.51.100.7"], "198.51.100.7"),  # through the proxy
    ("10.0.0.5", ["203.0.113.1, 198.51.100.7"], "198.51.100.7"),  # the client's own entry is not reached
    ("10.0.0.5", ["198.51.100.7, 10.0.0.6"], "198.51.100.7"),  # two proxies of ours
    ("10.0.0.5", ["203.0.113.1", "198.51.100.7"], "198.51.100.7"),  # two header lines, in order
    ("10.0.0.5", ["10.0.0.6"], "10.0.0.6"),  # proxies all the way: the leftmost
    ("10.0.0.5", [], "10.0.0.5"),
    ("192.0.2.9", ["198.51.100.7"], "192.0.2.9"),  # a stranger's header is ignored
    ("::ffff:10.0.0.5", ["198.51.100.7"], "198.51.100.7"),  # a dual-stack socket's IPv4 peer
    (None, ["198.51.100.7"], None),
])
def test_client_address(peer: str | None, header: list[str], client: str | None) -> None:
    assert TrustedProxies(["10.0.0.0/29"]).client(peer, header) == client


def test_an_unparsable_entry_from_a_proxy() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        TrustedProxies(["10.0.0.5"]).client("10.0.0.5", ["198.51.100.7, unknown"])
    # Left of the client, nobody looks.
    assert TrustedProxies(["10.0.0.5"]).client("10.0.0.5", ["junk, 198.51.100.7"]) == "198.51.100.7"


async def raw(client: Client, source: str, method: str, path: str, headers: dict[str, str],
              body: bytes = b"") -> tuple[int, Any]:
    """One HTTP/1.1 request from `source` (a loopback address) on a connection of its own."""
    reader, writer = await asyncio.open_connection("127.0.0.1", client.gateway.port, local_addr=(source, 0))
    try:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close",
                 f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        response = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, payload = response.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    return status, payload


async def sign_in_fails(client: Client, source: str, forwarded_for: str) -> int:
    body = json.dumps({"username": "nobody", "password": "wrong-password"}).encode()
    status, _ = await raw(client, source, "POST", "/api/v1/session",
                          {"Content-Type": "application/json", "X-Forwarded-For": forwarded_for}, body)
    return status


async def test_forwarded_for_counts_only_from_a_trusted_proxy(tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path, db_url, server={"trusted_proxies": [PROXY], "admin_hosts": ["203.0.113.7"]})
    async with running_gateway(settings) as client:
        # admin_hosts: the client the proxy names may read /health; the same header from a
        # stranger, or a client's own entry left of the proxy's, opens nothing.
        assert (await raw(client, PROXY, "GET", "/health", {"X-Forwarded-For": "203.0.113.7"}))[0] == 200
        assert (await raw(client, STRANGER, "GET", "/health", {"X-Forwarded-For": "203.0.113.7"}))[0] == 401
        assert (await raw(client, PROXY, "GET", "/health", {"X-Forwarded-For": "203.0.113.7, 198.51.100.1"}))[0] == 401
        assert (await raw(client, PROXY, "GET", "/health", {}))[0] == 401  # the proxy itself is no admin host
        status, payload = await raw(client, PROXY, "GET", "/health", {"X-Forwarded-For": "unknown"})
        assert status == 400 and b"not an IP address" in payload

        # The access log's client: the address the proxy saw; a stranger's claim is not taken.
        assert await sign_in_fails(client, PROXY, "198.51.100.20") == 401
        assert await sign_in_fails(client, STRANGER, "198.51.100.30") == 401
        services = client.gateway.services
        assert services is not None
        await services.users.add("audrey", "auditor", "audrey-password-1")
        auditor = await client.sign_in("audrey", "audrey-password-1")
        failed = [e["payload"]["client"] for e in await entries(client, auditor)
                  if e["payload"]["action"] == "sign_in_failed"]
        assert failed == ["198.51.100.20", STRANGER], failed


async def test_without_trusted_proxies_the_header_is_ignored(tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path, db_url, server={"admin_hosts": ["203.0.113.7"]})
    async with running_gateway(settings) as client:
        assert (await raw(client, PROXY, "GET", "/health", {"X-Forwarded-For": "203.0.113.7"}))[0] == 401
        assert (await raw(client, PROXY, "GET", "/health", {"X-Forwarded-For": "unknown"}))[0] == 401


@pytest.mark.parametrize(("peer", "header", "client", "proto"), [
    ("10.0.0.5", ['for=198.51.100.7;proto=https'], "198.51.100.7", "https"),
    ("10.0.0.5", ['for=203.0.113.1, for=198.51.100.7'], "198.51.100.7", None),  # the client's own not reached
    ("10.0.0.5", ['for=203.0.113.1', 'for=198.51.100.7;proto=http'], "198.51.100.7", "http"),  # two lines
    ("10.0.0.5", ['for="[2001:db8:cafe::17]:4711";proto=HTTPS;by=10.0.0.5'], "2001:db8:cafe::17", "https"),
    ("10.0.0.5", ['for="198.51.100.7:8080"'], "198.51.100.7", None),  # IPv4 with a port, quoted
    ("10.0.0.5", ['For=198.51.100.7 ; Proto=http, for=10.0.0.6;proto=https'], "198.51.100.7", "http"),
    ("10.0.0.5", ['for=_hidden, for=198.51.100.7'], "198.51.100.7", None),  # left of the client: unread
    ("10.0.0.5", ['for=10.0.0.6'], "10.0.0.6", None),  # proxies all the way
    ("192.0.2.9", ['for=198.51.100.7'], "192.0.2.9", None),  # a stranger's header is ignored
    ("192.0.2.9", ['for=unknown'], "192.0.2.9", None),
    ("10.0.0.5", [], "10.0.0.5", None),
])
def test_forwarded_client(peer: str, header: list[str], client: str, proto: str | None) -> None:
    assert TrustedProxies(["10.0.0.0/29"]).client_forwarded(peer, header) == (client, proto)


@pytest.mark.parametrize(("header", "problem"), [
    ('for=unknown', "hides"),
    ('for=_gazonk', "hides"),
    ('for="_x:_p"', "not an IPv4"),  # obfuscated host with a port: no address either
    ('for="198.51.100.7:_p";proto=https, for=unknown', "hides"),
    ('for="2001:db8::1"', "not an IPv4"),  # IPv6 must be bracketed
    ('for=[2001:db8::1]', "no value"),  # and quoted: [ is no token character
    ('for="[2001:db8::1]:x80"', "bad port"),
    ('for="[198.51.100.7]"', "only IPv6"),
    ('proto=https', "without for="),
    ('for=198.51.100.7;proto=gopher', "not http or https"),
    ('for=198.51.100.7;for=203.0.113.1', "twice"),
    ('for="198.51.100.7', "unterminated"),
    ('for=198.51.100.7 junk', "expected ';' or ','"),
    (", ".join(["for=10.0.0.6"] * 65), "more than 64"),
])
def test_forwarded_refused(header: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        TrustedProxies(["10.0.0.0/29"]).client_forwarded("10.0.0.5", [header])


async def test_forwarded_header_from_a_trusted_proxy(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", server={
        "trusted_proxies": [PROXY], "admin_hosts": ["2001:db8::7"], "proxy_header": "forwarded"})
    async with running_gateway(settings) as client:
        ipv6 = {"Forwarded": 'for="[2001:db8::7]:4711";proto=https'}
        assert (await raw(client, PROXY, "GET", "/health", ipv6))[0] == 200
        assert (await raw(client, STRANGER, "GET", "/health", ipv6))[0] == 401
        # X-Forwarded-For is not read when the proxy speaks Forwarded (it may pass a client's own through).
        assert (await raw(client, PROXY, "GET", "/health", {"X-Forwarded-For": "2001:db8::7"}))[0] == 401
        status, payload = await raw(client, PROXY, "GET", "/health", {"Forwarded": "for=_hidden"})
        assert status == 400 and b"obfuscated" in payload
        assert (await raw(client, STRANGER, "GET", "/health", {"Forwarded": "for=_hidden"}))[0] == 401
