"""Wrong credentials on the device protocols (the RTSP restream's Digest, the ONVIF facade's
WS-UsernameToken) are throttled per address, whatever the name, and logged in aggregate: one
`sign_in_failed` entry a minute per protocol and address, with the count (gateway/refusallog.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from core.clock import ManualClock
from core.config import AccessConfig
from gateway.refusallog import RefusalLog
from policy.audit.entries import AccessEvent
from policy.identity.throttle import DeviceThrottle, LoginThrottle
from restream.digest import DigestAnswer, expected_response
from restream.gate import RtspGate
from tests.fixtures_onvif import free_udp_port
from tests.gatewayutil import make_settings, running_gateway
from tests.onvif_server.schemas import DEVICE, soap
from tests.test_api_accesslog import entries
from tests.test_signin_flood import _Recorder

PASSWORD = "integrator-secret-1"
ADDRESS = "192.0.2.7"


def _answer(user: str, password: str) -> DigestAnswer:
    answer = DigestAnswer(username=user, realm="Pantau", nonce="n0nce", uri="rtsp://gw/cam", response="")
    return replace(answer, response=expected_response(answer, "DESCRIBE", password))


def _throttle(clock: ManualClock) -> DeviceThrottle:
    return DeviceThrottle(LoginThrottle(clock, 3, 300, 300), LoginThrottle(clock, 3, 300, 300))


async def test_rtsp_failures_are_throttled_per_address_and_logged_once_a_minute() -> None:
    clock, recorder = ManualClock(datetime.now(UTC)), _Recorder()
    refusals = RefusalLog(recorder, clock)

    async def password_of(user: str) -> str | None:
        return PASSWORD if user in ("nvr", "vms") else None

    gate = RtspGate(password_of, AccessConfig(), lambda camera: None, clock, recorder, _throttle(clock), refusals)
    assert await gate.sign_in(_answer("nvr", PASSWORD), "DESCRIBE", ADDRESS) is not None
    for name in ("nvr", "admin", "root"):  # three names, one address: the address is locked
        assert await gate.sign_in(_answer(name, "guess"), "DESCRIBE", ADDRESS) is None
    # Another account with the right password, from that address: refused until the lockout ends.
    assert await gate.sign_in(_answer("vms", PASSWORD), "DESCRIBE", ADDRESS) is None
    for _ in range(50):
        assert await gate.sign_in(_answer("nvr", "guess"), "DESCRIBE", ADDRESS) is None
    # Another address is not held up.
    assert await gate.sign_in(_answer("vms", PASSWORD), "DESCRIBE", "192.0.2.8") is not None

    def failed() -> list[AccessEvent]:
        return [e for e in recorder.events if e.action == "sign_in_failed"]

    assert [(e.actor, e.client, e.details) for e in failed()] == [
        ("nvr", ADDRESS, {"via": "rtsp", "count": 1})]
    clock.advance(125)  # two quiet minutes: what was held back is written with its count
    await refusals.write_due()
    assert [(e.actor, e.reason, e.details["count"]) for e in failed()][1:] == [
        ("nvr", "throttled after repeated failures", 53)]
    clock.advance(301)  # the lockout is over
    assert await gate.sign_in(_answer("vms", PASSWORD), "DESCRIBE", ADDRESS) is not None


async def test_onvif_failures_are_throttled_per_address_and_logged_once_a_minute(tmp_path: Path) -> None:
    clock = ManualClock(datetime.now(UTC))
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", auth={"max_failures": 3},
                             onvif_server={"enabled": True, "discovery_port": free_udp_port()})
    async with running_gateway(settings, clock) as client:
        services = client.gateway.services
        assert services is not None
        for name in ("nvr", "vms"):
            await services.users.add(name, "integrator", PASSWORD)
        admin = await client.sign_in("admin", client.admin_password())
        url = client.url("/onvif/device_service")

        async def call(user: str, password: str) -> int:
            status, _ = await soap(client.http, url, "GetDeviceInformation", DEVICE, user, password)
            return status

        assert await call("nvr", PASSWORD) == 200
        for name in ("nvr", "admin", "root"):
            assert await call(name, "guess") != 200
        assert await call("vms", PASSWORD) != 200  # the address is locked, whatever the name
        for _ in range(20):
            assert await call("nvr", "guess") != 200

        async def failed() -> list[dict[str, object]]:
            return [e["payload"] for e in await entries(client, admin, action="sign_in_failed")
                    if e["payload"]["details"].get("via") == "onvif"]

        first = await failed()
        assert [(e["actor"], e["details"]["count"]) for e in first] == [("nvr", 1)], first  # type: ignore[index]
        clock.advance(125)
        await services.refusals.write_due()
        later = await failed()
        assert len(later) == 2 and later[1]["details"]["count"] == 23, later  # type: ignore[index]
