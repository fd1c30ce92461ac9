"""WS-Discovery against ipycam's responder on loopback: probe (directed and multicast), CLI and API."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.cli import main
from onvif_adapters.discovery import discover, parse_probe_matches, probe
from tests.fixtures_onvif import OnvifDevice
from tests.gatewayutil import make_settings, running_gateway


async def test_directed_probe_finds_the_device_and_reads_it(onvif_device: Callable[..., OnvifDevice]) -> None:
    device = onvif_device()
    # 3 s per step: the fake camera answers in milliseconds, but CI's loaded machine once took over 1 s.
    records = await discover(3.0, [("127.0.0.1", device.discovery_port)], device.user, device.password)
    assert len(records) == 1
    record = records[0]
    assert record.address == f"127.0.0.1:{device.port}"
    assert record.info is not None and (record.info.manufacturer, record.info.serial) == ("IPyCam", device.serial)
    assert [p.token for p in record.profiles] == ["Profile_Main", "Profile_Sub"]
    assert "onvif://www.onvif.org/Profile/Streaming" in record.scopes
    assert record.error is None


async def test_multicast_probe_on_loopback(onvif_device: Callable[..., OnvifDevice]) -> None:
    device = onvif_device()
    # The group address, but the device's own port: only this test's device answers.
    matches = await probe(1.0, [("239.255.255.250", device.discovery_port)], interface="127.0.0.1")
    assert [m.xaddrs for m in matches] == [(device.xaddr,)]
    assert "dn:NetworkVideoTransmitter" in matches[0].types


async def test_without_credentials_the_device_says_it_needs_them(onvif_device: Callable[..., OnvifDevice]) -> None:
    device = onvif_device()
    [record] = await discover(1.0, [("127.0.0.1", device.discovery_port)])
    assert record.info is None
    assert record.error is not None and "credentials refused" in record.error
    assert "give credentials" in record.error


async def test_nobody_answers_within_the_timeout() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await probe(0.5, [("127.0.0.1", 9)]) == []
    assert loop.time() - started < 2


def test_foreign_and_malformed_datagrams_are_ignored() -> None:
    assert parse_probe_matches(b"<not xml", "urn:uuid:1") == []
    assert parse_probe_matches(b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', "urn:uuid:1") == []
    other = (
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        b'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        b'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><s:Header>'
        b"<a:RelatesTo>urn:uuid:someone-else</a:RelatesTo></s:Header><s:Body><d:ProbeMatches><d:ProbeMatch>"
        b"<d:XAddrs>http://192.0.2.1/onvif/device_service</d:XAddrs></d:ProbeMatch></d:ProbeMatches>"
        b"</s:Body></s:Envelope>"
    )
    assert parse_probe_matches(other, "urn:uuid:1") == []
    assert len(parse_probe_matches(other, "urn:uuid:someone-else")) == 1


def test_cli_discover(
    onvif_device: Callable[..., OnvifDevice], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    device = onvif_device()
    config = tmp_path / "config.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\n")
    monkeypatch.setattr("sys.stdin", io.StringIO(device.password + "\n"))
    target = f"127.0.0.1:{device.discovery_port}"
    args = ["--config", str(config), "discover", "--timeout", "1", "--target", target, "--user", device.user]
    assert main([*args, "--password-stdin", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    [found] = out["devices"]
    assert (found["serial"], found["address"]) == (device.serial, f"127.0.0.1:{device.port}")
    assert device.password not in json.dumps(out)
    monkeypatch.setattr("sys.stdin", io.StringIO(device.password + "\n"))
    assert main([*args, "--password-stdin"]) == 0
    text = capsys.readouterr().out
    assert f"127.0.0.1:{device.port}\n  IPyCam VirtualCam-1" in text
    assert "profile Profile_Sub (SubStream): H264 640x360, PTZ" in text
    assert main(["--config", str(config), "discover", "--target", "not-an-address"]) == 2


async def test_api_discover_admin_only(tmp_path: Path, onvif_device: Callable[..., OnvifDevice]) -> None:
    device = onvif_device()
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    target = f"127.0.0.1:{device.discovery_port}"
    async with running_gateway(settings) as client:
        admin = await client.sign_in("admin", client.admin_password())
        body = await client.get_json(f"/api/v1/onvif/discover?timeout=1&target={target}", admin)
        [found] = body["devices"]
        assert found["address"] == f"127.0.0.1:{device.port}" and "credentials" in found["error"]
        headers = {"Authorization": f"Bearer {admin}"}
        payload = {"timeout": 3, "targets": [target], "username": device.user, "password": device.password}
        async with client.http.post(client.url("/api/v1/onvif/discover"), json=payload, headers=headers) as resp:
            assert resp.status == 200
            text = await resp.text()
        [found] = json.loads(text)["devices"]
        assert found["model"] == "VirtualCam-1" and found["profiles"][1]["token"] == "Profile_Sub"
        assert device.password not in text
        await client.get_json("/api/v1/onvif/discover?timeout=99", admin, status=400)
        await client.get_json("/api/v1/onvif/discover", None, status=401)
        services = client.gateway.services
        assert services is not None
        await services.users.add("vera", "operator", "vera-password-1")
        operator = await client.sign_in("vera", "vera-password-1")
        await client.get_json(f"/api/v1/onvif/discover?timeout=0.2&target={target}", operator, status=403)
