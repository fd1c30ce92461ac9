"""Corpora of hostile paths and destinations against a running gateway.

Path traversal (`..`, encoded and double-encoded, NUL, absolute paths, backslashes) against every
route that takes a path, a camera id or a file name: refused (400, 403, 404 or 422; never a 5xx), and
nothing outside storage is read: a planted file beside the data and /etc/passwd never appear.

SSRF: camera sources, sub-streams, ONVIF addresses and discovery targets at link-local (cloud
metadata), unspecified, multicast addresses, metadata host names and numeric spellings of them,
and non-camera schemes, are refused (422) and each refusal is a `config_changed` entry with outcome
`deny`; a camera on the LAN or on loopback is accepted; `onboarding.allowed_networks` narrows it.
Webhooks: the config refuses a receiver at a metadata address, and a receiver's redirect is not
followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import ValidationError
from yarl import URL

from alerts.model import Alert, uuid7
from alerts.webhook import WebhookSink
from core.alerting import AlertKind, Severity
from core.alertsconfig import AlertsConfig, WebhookConfig
from core.config import CameraConfig
from core.destinations import refused_address
from tests.alerts.test_webhook import FAST
from tests.background import in_background
from tests.gatewayutil import Client, make_settings, running_gateway

SENTINEL = "planted-outside-storage-7f3a"
PASSWD = "root:x:0:0"
DAY = "start=2026-01-01T00:00:00Z&end=2026-01-02T00:00:00Z"

# Written into the URL as they are (already percent-encoded where they say so).
TRAVERSALS = [
    "..", "../secret.txt", "../../secret.txt", "..%2fsecret.txt", "..%2F..%2Fsecret.txt", "%2e%2e", "%2e%2e%2fsecret.txt",
    "%2e%2e/%2e%2e/secret.txt", "%252e%252e%252fsecret.txt", "....//secret.txt", "lobby/../../secret.txt",
    "lobby%2f..%2f..%2fsecret.txt", "..%5csecret.txt", "..%5c..%5csecret.txt", "%2fetc%2fpasswd", "%2Fetc%2Fpasswd",
    "lobby%00", "lobby%00.mp4", "%00", "C:%5cWindows%5cwin.ini", "lobby%0a", "%c0%ae%c0%ae%2fsecret.txt",
    "file:%2f%2f%2fetc%2fpasswd",
]
ROUTES = [
    "/get?path={p}&start=2026-01-01T00:00:00Z&duration=10",
    "/list?path={p}",
    "/api/v1/recordings?camera={p}&" + DAY,
    "/api/v1/recordings/thumbnails?camera={p}&count=4&" + DAY,
    "/api/v1/cameras/{p}",
    "/api/v1/cameras/{p}/snapshot.jpg",
    "/api/v1/cameras/{p}/history",
    "/api/v1/exports/{p}",
    "/api/v1/exports/{p}/download",
    "/api/v1/snapshots/{p}",
    "/api/v1/cases/{p}/berita-acara.pdf",
    "/api/v1/playback-requests/{p}/letter",
    "/static/{p}",
    "/static/js/{p}",
]


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    (tmp_path / "secret.txt").write_text(SENTINEL)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "secret.txt").write_text(SENTINEL)
    return tmp_path


async def _get(client: Client, token: str, raw: str) -> tuple[int, bytes]:
    url = URL(client.base + raw, encoded=True)
    async with client.http.get(url, headers={"Authorization": f"Bearer {token}"}, allow_redirects=False) as resp:
        return resp.status, await resp.read()


async def test_path_traversal_corpus_reads_nothing_outside_storage(planted: Path) -> None:
    settings = make_settings(planted, f"sqlite+aiosqlite:///{planted / 'p.db'}",
                             [CameraConfig(id="lobby", source="demo://pattern", enabled=False)])
    async with running_gateway(settings) as client:
        admin = await client.sign_in("admin", client.admin_password())
        answers: dict[int, int] = {}
        for route in ROUTES:
            for payload in TRAVERSALS:
                status, body = await _get(client, admin, route.format(p=payload))
                where = (route, payload, status, body[:200])
                assert status in (400, 403, 404, 422), where
                assert SENTINEL.encode() not in body and PASSWD.encode() not in body, where
                answers[status] = answers.get(status, 0) + 1
        # A WHEP offer at a traversing camera id: refused before any SDP is read.
        for payload in ("..%2f..%2fsecret.txt", "lobby%00", "%2e%2e"):
            async with client.http.post(URL(client.base + f"/whep/live/{payload}", encoded=True), data=b"v=0\r\n",
                                        headers={"Authorization": f"Bearer {admin}",
                                                 "Content-Type": "application/sdp"}) as resp:
                assert resp.status in (400, 404), (payload, resp.status)
        assert sum(answers.values()) == len(ROUTES) * len(TRAVERSALS)
        assert (await _get(client, admin, "/static/pantau.css"))[0] == 200  # the static route itself works


REFUSED_SOURCES: list[dict[str, Any]] = [
    {"source": "rtsp://169.254.169.254/latest/meta-data"},
    {"source": "rtsp://[fe80::1%25eth0]:554/x"},
    {"source": "rtsp://[fd00:ec2::254]/x"},
    {"source": "rtsp://[::ffff:169.254.169.254]/x"},
    {"source": "rtsp://2852039166/x"},  # 169.254.169.254 in decimal, as inet_aton reads it
    {"source": "rtsp://0xA9FEA9FE/x"},  # and in hex
    {"source": "rtsps://0.0.0.0:322/x"},
    {"source": "rtsp://224.0.0.251/x"},
    {"source": "rtsp://255.255.255.255/x"},
    {"source": "rtsp://metadata.google.internal/x"},
    {"source": "rtsp://192.168.1.20/main", "substream": "rtsp://169.254.169.254/sub"},
    {"onvif": {"address": "169.254.169.254"}},
    {"onvif": {"address": "http://169.254.169.254:80/onvif/device_service"}},
    {"onvif": {"address": "metadata.google.internal"}},
]
BAD_SCHEMES = ["file:///etc/passwd", "gopher://127.0.0.1:25/_HELO", "http://127.0.0.1:8080/", "ftp://192.168.1.2/",
               "concat:rtsp://a|file:///etc/passwd", "subfile:,,start,0,end,0,,:/etc/passwd", "dict://127.0.0.1:11211/"]
ALLOWED_SOURCES = ["rtsp://127.0.0.1:9/local-restreamer", "rtsp://192.168.1.20:554/main", "rtsp://[fd12::20]/x",
                   "rtsps://10.1.2.3/x", "rtsp://cam-7.example/x"]


async def _add(client: Client, token: str, n: int, spec: dict[str, Any]) -> tuple[int, Any]:
    body = {"id": f"cam-{n}", "enabled": False, **spec}
    async with client.http.post(client.url("/api/v1/cameras"), json=body,
                                headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.json(content_type=None)


async def _denials(client: Client, token: str) -> list[dict[str, Any]]:
    body = await client.get_json("/api/v1/access-log?action=config_changed&outcome=deny&limit=1000", token)
    return [e["payload"] for e in body["entries"]]


async def test_ssrf_corpus_against_onboarding_and_discovery(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    async with running_gateway(settings) as client:
        admin = await client.sign_in("admin", client.admin_password())
        n = 0
        for spec in REFUSED_SOURCES:
            n += 1
            status, body = await _add(client, admin, n, spec)
            assert (status, body.get("type")) == (422, "urn:pantau:problem:destination-refused"), (spec, body)
        for url in BAD_SCHEMES:
            n += 1
            status, body = await _add(client, admin, n, {"source": url})
            assert status == 422 and "not allowed" in body["detail"], (url, body)
        for url in ALLOWED_SOURCES:
            n += 1
            status, body = await _add(client, admin, n, {"source": url})
            assert status == 201, (url, body)
        # Changing an accepted camera to a metadata address is refused the same way.
        async with client.http.patch(client.url(f"/api/v1/cameras/cam-{n}"), json={"source": "rtsp://169.254.169.254/"},
                                     headers={"Authorization": f"Bearer {admin}",
                                              "Content-Type": "application/merge-patch+json"}) as resp:
            assert resp.status == 422 and (await resp.json())["type"].endswith("destination-refused")
        for target in ("169.254.169.254", "0.0.0.0", "224.0.0.1:3702"):
            status, body = await _get_json(client, admin, f"/api/v1/onvif/discover?target={target}&timeout=0.2")
            assert (status, body["type"]) == (422, "urn:pantau:problem:destination-refused"), (target, body)
        denials = await _denials(client, admin)
        assert len(denials) == len(REFUSED_SOURCES) + 1 + 3, denials
        assert all(d["reason"].startswith("destination refused") and d["actor"] == "admin" for d in denials)
        assert any("169.254.169.254" in d["reason"] and "2852039166" in d["reason"] for d in denials), denials


async def _get_json(client: Client, token: str, path: str) -> tuple[int, Any]:
    async with client.http.get(client.url(path), headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_allowed_networks_narrow_where_cameras_may_be(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}",
                             onboarding={"allowed_networks": ["192.168.10.0/24"]})
    async with running_gateway(settings) as client:
        admin = await client.sign_in("admin", client.admin_password())
        assert (await _add(client, admin, 1, {"source": "rtsp://192.168.10.7/x"}))[0] == 201
        for n, url in enumerate(["rtsp://192.168.11.7/x", "rtsp://127.0.0.1:9/x", "rtsp://localhost:9/x",
                                 "rtsp://10.0.0.5/x"], start=2):
            status, body = await _add(client, admin, n, {"source": url})
            assert status == 422 and "allowed_networks" in body["detail"], (url, body)


@pytest.mark.parametrize("url", ["http://169.254.169.254/hook", "https://[fe80::1]/hook", "http://0.0.0.0/hook",
                                 "http://metadata.google.internal/hook", "file:///tmp/hook", "gopher://127.0.0.1/x"])
def test_a_webhook_cannot_point_at_metadata_or_other_schemes(url: str) -> None:
    with pytest.raises(ValidationError):
        AlertsConfig.model_validate({"webhooks": [{"name": "city", "url": url}]})


def test_a_local_webhook_relay_is_allowed() -> None:
    assert AlertsConfig.model_validate({"webhooks": [{"name": "relay", "url": "http://127.0.0.1:9000/hook"}]})
    assert refused_address(ipaddress.ip_address("192.168.1.1")) is None


async def test_a_webhook_receivers_redirect_is_not_followed() -> None:
    """A receiver answering 307 to another address: the delivery fails there, nothing reaches the other."""
    reached: list[str] = []

    async def target(request: web.Request) -> web.Response:
        reached.append(request.path)
        return web.Response(status=204)

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(f"http://127.0.0.1:{target_port}/stolen")

    apps = []
    for handler in (target, redirect):
        app = web.Application()
        app.router.add_post("/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        apps.append((runner, site))
    target_port = apps[0][1]._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    redirect_port = apps[1][1]._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    sink = WebhookSink(WebhookConfig.model_validate({"name": "city", "url": f"http://127.0.0.1:{redirect_port}/hook",
                                                     "retry": FAST}))
    try:
        async with in_background(sink.run()):
            now = datetime.now(UTC)
            alert = Alert(seq=1, id=uuid7(now), kind=AlertKind.STORAGE_LOW, at=now,
                          severity=Severity.WARNING, summary={"en": "low", "id": "rendah"})
            with pytest.raises(Exception, match="307"):
                await sink.deliver(alert)
            await asyncio.sleep(0.1)
    finally:
        for runner, _site in apps:
            await runner.cleanup()
    assert reached == []
