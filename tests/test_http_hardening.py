"""The findings of the security review (issue 20) against a running gateway: uploads that cannot
freeze the loop, bodies that arrive in pieces, WHEP cap refusals in the access log, the security
headers on every response."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from core.config import CameraConfig
from gateway.http.appkeys import SERVICES
from gateway.http.urls import absolute, handed_out
from tests.fixtures_onvif import free_udp_port
from tests.gatewayutil import LETTER_PNG, Client, make_settings, running_gateway
from tests.test_whep import Viewer
from tests.test_whep_ice import post_offer, sqlite, without_candidates

PASSWORD = "password-123"
BOUNDARY = "pantau-test-boundary"
MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
# An offline camera still takes offers (its video starts when it returns): no camera server needed.
CAMERAS = [CameraConfig(id="lobby", source="demo://pattern", enabled=False)]
INDEX_PAGE = (Path(__file__).resolve().parent.parent / "gateway/static/index.html").read_text()


def part(name: str, value: bytes, filename: str | None = None) -> bytes:
    """One form-data part, boundary line first."""
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"


async def chunked(pieces: int, piece: bytes, tail: bytes = b"") -> AsyncIterator[bytes]:
    """A body aiohttp sends with Transfer-Encoding: chunked (no Content-Length to check)."""
    for _ in range(pieces):
        yield piece
    yield tail


class LivezWatch:
    """Polls /livez while something else runs, every 50 ms; `slowest` is the longest time from one
    answer to the next (a request that times out counts as 1 s). The gateway shares this event
    loop, so a frozen loop shows here whenever it happens, not only during a request."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.slowest = 0.0
        self.answers = 0

    async def run(self) -> None:
        last = time.monotonic()
        while True:
            try:
                async with asyncio.timeout(1.0):
                    async with self.client.http.get(self.client.url("/livez")) as resp:
                        assert resp.status == 200
                self.answers += 1
                now = time.monotonic()
                self.slowest = max(self.slowest, now - last)
                last = now
            except TimeoutError:
                self.slowest = max(self.slowest, 1.0)
            await asyncio.sleep(0.05)


async def upload(client: Client, token: str, body: Any) -> tuple[int, dict[str, Any], float]:
    began = time.monotonic()
    async with client.http.post(client.url("/api/v1/playback-requests"), data=body,
                                headers={**MULTIPART, "Authorization": f"Bearer {token}"}) as resp:
        problem = await resp.json(content_type=None)
        assert resp.content_type == "application/problem+json", resp.content_type
        return resp.status, problem, time.monotonic() - began


async def test_uploads_are_capped_decided_first_and_never_freeze_the_loop(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, sqlite(tmp_path), CAMERAS)  # letter_max_bytes: the default 10 MiB
    async with running_gateway(settings) as client:
        users = client.gateway.services.users  # type: ignore[union-attr]
        await users.add("ops", "operator", PASSWORD)
        await users.add("vera", "viewer", PASSWORD)
        ops, vera = await client.sign_in("ops", PASSWORD), await client.sign_in("vera", PASSWORD)
        watch = LivezWatch(client)
        async with asyncio.TaskGroup() as tasks:
            watcher = tasks.create_task(watch.run())

            # 64 MiB chunked (no Content-Length): 413 once the cap is passed, not after the whole body.
            letter = part("letter", b"", "letter.png")[:-2]
            status, problem, took = await upload(client, ops, chunked(1024, bytes(64 * 1024), letter))
            assert status == 413 and problem["status"] == 413, problem
            assert took < 5.0, took

            # 10,000 repeats of one field, chunked, within the size cap: refused at the second.
            fields = part("purpose", b"x" * 900) * 10_000
            assert len(fields) < 10 * 1024 * 1024
            status, problem, took = await upload(client, ops, chunked(1, fields, f"--{BOUNDARY}--\r\n".encode()))
            assert status == 400 and "purpose" in problem["detail"], problem
            assert took < 5.0, took

            # Cameras may repeat (one per camera), at most 64 times.
            status, problem, _ = await upload(client, ops, part("cameras", b"lobby") * 65 + f"--{BOUNDARY}--\r\n".encode())
            assert status == 400 and "cameras" in problem["detail"], problem

            # The role is decided before the body is read: a viewer's oversized upload is 403, not 413.
            status, problem, _ = await upload(client, vera, chunked(1024, bytes(64 * 1024), letter))
            assert status == 403, problem

            # Malformed part headers are the client's fault: 400, never 500.
            for bad in (f"--{BOUNDARY}\r\nContent-Disposition form-data\r\n\r\nx\r\n--{BOUNDARY}--\r\n",
                        f"--{BOUNDARY}\r\n" + "X: y\r\n" * 200 + f"\r\nx\r\n--{BOUNDARY}--\r\n",
                        f"--{BOUNDARY}\r\n: no name\r\n\r\nx\r\n--{BOUNDARY}--\r\n",
                        "no boundary at all"):
                status, problem, _ = await upload(client, ops, bad.encode())
                assert status == 400, (bad[:60], problem)
            watcher.cancel()
        assert watch.answers >= 1 and watch.slowest < 0.5, (watch.answers, watch.slowest)

        # A well-formed request still files (the form parser is the only one).
        now = time.time()
        start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3 * 3600))
        end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 2 * 3600))
        good = b"".join(part(k, v.encode()) for k, v in {
            "party_name": "Budi", "party_organisation": "Polres", "purpose": "Theft", "letter_number": "B/1",
            "letter_date": "2026-03-09", "cameras": "lobby", "start": start, "end": end}.items())
        # A letter of 3 MiB: over aiohttp's client_max_size (256 KiB here), which request.multipart()
        # enforces and the gateway's form reader does not use; letter_max_bytes is the cap.
        good += part("letter", LETTER_PNG + bytes(3 * 1024 * 1024), "letter.png") + f"--{BOUNDARY}--\r\n".encode()
        async with client.http.post(client.url("/api/v1/playback-requests"), data=chunked(1, good),
                                    headers={**MULTIPART, "Authorization": f"Bearer {ops}"}) as resp:
            assert resp.status == 201, await resp.text()
            assert (await resp.json())["letter"]["size"] == len(LETTER_PNG) + 3 * 1024 * 1024


async def raw_post(client: Client, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    """POST over a bare socket: the headers, then the body in 3 pieces 100 ms apart (3 TCP segments)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", client.gateway.port)
    try:
        head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}", "Connection: close",
                *(f"{k}: {v}" for k, v in headers.items())]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        await writer.drain()
        third = len(body) // 3 + 1
        for i in range(3):
            await asyncio.sleep(0.1)
            writer.write(body[i * third:(i + 1) * third])
            await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        await writer.wait_closed()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


SOAP_TIME = (b'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
             b'<s:Body><GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>')


async def test_bodies_in_several_segments_are_read_whole(tmp_path: Path) -> None:
    onvif = {"enabled": True, "discovery": False, "discovery_port": free_udp_port()}
    async with running_gateway(make_settings(tmp_path, sqlite(tmp_path), CAMERAS, onvif_server=onvif)) as client:
        status, body = await raw_post(client, "/onvif/device_service", {"Content-Type": "application/soap+xml"},
                                      SOAP_TIME)
        assert status == 200 and b"GetSystemDateAndTimeResponse" in body, body[:300]
        await client.gateway.services.users.add("ops", "operator", PASSWORD)  # type: ignore[union-attr]
        sign_in = json.dumps({"username": "ops", "password": PASSWORD}).encode()
        status, body = await raw_post(client, "/api/v1/session", {"Content-Type": "application/json"}, sign_in)
        assert status == 201, body
        token = json.loads(body)["token"]
        probe = Viewer()
        try:
            offer = without_candidates(await probe.offer())
        finally:
            await probe.close()
        bearer = {"Authorization": f"Bearer {token}"}
        status, body = await raw_post(client, "/whep/live/lobby", {"Content-Type": "application/sdp", **bearer},
                                      offer.encode())
        assert status == 201 and body.startswith(b"v=0"), body[:200]
        as_json = json.dumps({"type": "offer", "sdp": offer}).encode()
        status, body = await raw_post(client, "/whep/live/lobby", {"Content-Type": "application/json", **bearer},
                                      as_json)
        assert status == 201 and json.loads(body)["type"] == "answer", body[:200]


async def test_whep_cap_refusals_are_logged_once_per_burst(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, sqlite(tmp_path), CAMERAS,
                             webrtc={"max_sessions": 3, "max_sessions_per_user": 2})
    async with running_gateway(settings) as client:
        users = client.gateway.services.users  # type: ignore[union-attr]
        await users.add("ops", "operator", PASSWORD)
        await users.add("omar", "operator", PASSWORD)
        ops, omar = await client.sign_in("ops", PASSWORD), await client.sign_in("omar", PASSWORD)
        admin = await client.sign_in("admin", client.admin_password())
        probe = Viewer()
        try:
            offer = without_candidates(await probe.offer())
        finally:
            await probe.close()
        # One viewer's burst of 20 offers: 2 open, 18 refused, one `decision` entry for the burst.
        burst = await asyncio.gather(*(post_offer(client, "/whep/live/lobby", offer, ops) for _ in range(20)))
        assert sorted(status for status, _, _ in burst) == [201] * 2 + [503] * 18
        assert all(headers["Retry-After"].isdigit() for status, headers, _ in burst if status == 503)
        # Another viewer fills the gateway, then is refused under the total cap: its own entry.
        assert [(await post_offer(client, "/whep/live/lobby", offer, omar))[0] for _ in range(3)] == [201, 503, 503]
        log = await client.get_json("/api/v1/access-log?action=decision&limit=1000", admin)
        denies = [e["payload"] for e in log["entries"]
                  if e["payload"].get("details", {}).get("cap") is not None]
        assert [(d["actor"], d["outcome"], d["details"]["cap"], d["details"]["action"], d["details"]["refusals"])
                for d in denies] == [("ops", "deny", "max_sessions_per_user", "live", 1),
                                     ("omar", "deny", "max_sessions", "live", 1)], denies
        assert "webrtc.max_sessions_per_user" in denies[0]["reason"] and denies[0]["camera"] == "lobby"


async def test_security_headers_on_pages_api_answers_and_errors(tmp_path: Path) -> None:
    async with running_gateway(make_settings(tmp_path, sqlite(tmp_path), CAMERAS)) as client:
        admin = await client.sign_in("admin", client.admin_password())
        bearer = {"Authorization": f"Bearer {admin}"}
        for path, headers, status in [("/", {}, 200), ("/static/index.html", {}, 200),
                                      ("/api/v1/cameras", bearer, 200), ("/api/v1/cameras", {}, 401),
                                      ("/api/v1/cameras/nowhere", bearer, 404), ("/no/such/page", bearer, 404), ("/no/such/page", {}, 401),
                                      ("/livez", {}, 200)]:
            async with client.http.get(client.url(path), headers=headers) as resp:
                assert resp.status == status, (path, resp.status)
                csp = resp.headers.get("Content-Security-Policy", "")
                assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp, (path, csp)
                assert resp.headers.get("X-Content-Type-Options") == "nosniff", path
                assert resp.headers.get("Referrer-Policy") == "no-referrer", path
        # The header holds what the pages' <meta> tag says, and more (frame-ancestors).
        meta = INDEX_PAGE.split('http-equiv="Content-Security-Policy" content="', 1)[1].split('"', 1)[0]
        async with client.http.get(client.url("/")) as resp:
            assert resp.headers["Content-Security-Policy"].startswith(meta)


def test_urls_handed_out_come_from_public_url_never_from_the_host_header(tmp_path: Path) -> None:
    def request(public_url: str | None) -> web.Request:
        app = web.Application()
        settings = make_settings(tmp_path, sqlite(tmp_path), server={"public_url": public_url})
        app[SERVICES] = SimpleNamespace(settings=settings)  # type: ignore[misc]
        return make_mocked_request("GET", "/list?path=gate", headers={"Host": "evil.example"}, app=app)

    query = {"path": "gate", "start": "2026-03-09T10:00:00Z", "duration": "2.5"}
    assert handed_out(request(None), "/get", query) == "/get?path=gate&start=2026-03-09T10:00:00Z&duration=2.5"
    assert handed_out(request("https://cctv.example:8443"), "/get", query) == (
        "https://cctv.example:8443/get?path=gate&start=2026-03-09T10:00:00Z&duration=2.5")
    assert absolute(request("https://cctv.example"), "/get", [("link", "x")]) == "https://cctv.example/get?link=x"
    for bad in ("cctv.example", "https://cctv.example/", "https://cctv.example/pantau", "ftp://cctv.example"):
        with pytest.raises(ValueError, match="not an origin"):
            make_settings(tmp_path, sqlite(tmp_path), server={"public_url": bad})
