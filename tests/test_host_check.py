"""DNS rebinding protection (gateway/http/hostcheck.py): a request for a host name the gateway does
not know is refused with 421 before any route; addresses, localhost, this machine's name, the public
and advertised URLs' hosts and `server.allowed_hosts` are answered. A real Chromium whose resolver
maps an outside name to the gateway (what a rebinding attack makes the victim's browser do) gets the
refusal, even same-origin."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from pathlib import Path

import pytest

from gateway.http.hostcheck import HOST_NOT_ALLOWED, AllowedHosts, host_name
from tests.browser import chromium
from tests.gatewayutil import Client, make_settings, running_gateway


@pytest.mark.parametrize(("header", "name"), [
    ("cctv.example", "cctv.example"), ("CCTV.Example.:8443", "cctv.example"), ("[::1]:8080", "::1"),
    ("::1", "::1"), ("127.0.0.1:80", "127.0.0.1"), ("  evil.example  ", "evil.example"), ("", ""),
])
def test_host_name(header: str, name: str) -> None:
    assert host_name(header) == name


def test_which_names_are_answered() -> None:
    hosts = AllowedHosts(["cctv.example", ".city.example"], ["https://public.example:8443", None], ["vm"])
    for header in ("127.0.0.1:8080", "[::1]:8080", "10.1.2.3", "localhost:8080", "wall.localhost", "vm:8080",
                   "CCTV.example", "public.example:8443", "city.example", "cam.city.example", None):
        assert hosts.allows(header), header
    for header in ("evil.example", "cctv.example.evil", "notcity.example", "vm.evil", "", "localhost.evil"):
        assert not hosts.allows(header), header
    assert AllowedHosts(["*"]).allows("anything.example")


def test_a_malformed_entry_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is not a host name"):
        make_settings(tmp_path, "sqlite+aiosqlite:///x", server={"allowed_hosts": ["http://cctv.example"]})


async def raw_get(client: Client, path: str, host: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", client.gateway.port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        response = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def test_the_gateway_refuses_names_it_does_not_know_and_logs_once_a_minute(
        tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(tmp_path, db_url, server={"allowed_hosts": [".city.example"],
                                                       "public_url": "https://cctv.example"})
    caplog.set_level(logging.WARNING, "gateway.refusallog")
    async with running_gateway(settings) as client:
        port = client.gateway.port
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"{socket.gethostname()}:{port}", "cctv.example",
                     "wall.city.example:8080"):
            status, _ = await raw_get(client, "/livez", host)
            assert status == 200, host
        for _ in range(3):
            status, body = await raw_get(client, "/api/v1/cameras", f"rebind.evil.example:{port}")
            assert status == 421
            problem = json.loads(body)
            assert problem["type"] == HOST_NOT_ALLOWED and problem["instance"] == "/api/v1/cameras"
            assert "server.allowed_hosts" in problem["detail"]
        # Refused before the sign-in too: a rebinding page cannot try passwords through the victim.
        status, _ = await raw_get(client, "/livez", "rebind.evil.example")
        assert status == 421
    said = [r.getMessage() for r in caplog.records if "rebind.evil.example" in r.getMessage()]
    # The first at once, the three held back said when the gateway stopped (one line, with the count).
    assert len(said) == 2 and "refused 1 request(s)" in said[0] and "refused 3 request(s)" in said[1], said


async def test_a_browser_rebound_to_the_gateway_gets_the_refusal(tmp_path: Path, db_url: str) -> None:
    async with running_gateway(make_settings(tmp_path, db_url)) as client:
        port = client.gateway.port
        # What a rebinding attack makes the victim's browser do: resolve the attacker's name to the gateway.
        async with chromium(flags=("--host-resolver-rules=MAP rebind.test 127.0.0.1",)) as page:
            await page.goto(f"http://rebind.test:{port}/")
            text = await page.evaluate("document.body.innerText")
            assert HOST_NOT_ALLOWED in text, text[:300]
            # Same-origin to the page, so no CORS stands in the way: the host check does.
            answer = await page.evaluate(f"fetch('http://rebind.test:{port}/livez').then(r => r.status)")
            assert answer == 421
            await page.goto(f"http://127.0.0.1:{port}/livez")
            assert "pass" in await page.evaluate("document.body.innerText")
