"""The webhook sink against real receivers on loopback (tests/alerts/webhook_receiver.py), with a
real bus and couriers on both databases: signatures, order, outages, restarts, dead receivers,
credentials, filters."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alerts.bus import AlertBus
from alerts.delivery import Courier, DeliveryFailed
from alerts.model import Alert, uuid7
from alerts.sinks import configured_sinks
from alerts.webhook import WebhookSink, signature
from core.alerting import AlertKind, Notice, Severity
from core.alertsconfig import AlertsConfig, WebhookConfig
from core.configbase import BackoffConfig
from core.configfile import load_settings
from core.errors import ConfigError
from core.version import gateway_version
from tests.alerts.test_bus import running_bus
from tests.alerts.webhook_receiver import Receiver, receiving, silent_server, verify
from tests.background import in_background
from tests.gatewayutil import until

SECRET = "whsec_" + base64.b64encode(b"pantau-test-key-0123456789abcdef").decode()
FAST = BackoffConfig(initial_s=0.1, max_s=0.5, jitter=0.1)
GROUPS = {"gate": ["gates"], "gate-2": ["gates"], "lobby": ["inside"]}
OFFLINE, ALARM, FULL = AlertKind.CAMERA_OFFLINE, AlertKind.CAMERA_ALARM, AlertKind.STORAGE_FULL


def hook(name: str, url: str, **config: object) -> WebhookSink:
    return WebhookSink(WebhookConfig.model_validate({"name": name, "url": url, "retry": FAST, **config}))


def alarm(n: int, camera: str = "gate") -> Notice:
    return Notice(ALARM, camera, {"alarm": "motion", "n": n})


@asynccontextmanager
async def delivering(bus: AlertBus, *sinks: WebhookSink) -> AsyncIterator[list[Courier]]:
    """A running courier per sink. Each cursor is made first (at the newest alert, as a new sink's
    is), so nothing published inside the block can be passed over by a courier still starting."""
    for sink in sinks:
        await bus.outbox.cursor(sink.name)
    couriers = [Courier(s, bus, s.config.retry, lambda camera: GROUPS.get(camera, ())) for s in sinks]
    async with in_background(*(c.run() for c in couriers)):
        yield couriers


async def arrive(receiver: Receiver, n: int, within: float = 10.0) -> None:
    async def enough() -> bool:
        return len(receiver.ids) >= n

    await until(enough, within, f"{n} deliveries")


async def stored(bus: AlertBus) -> list[Alert]:
    return await bus.outbox.after(0, 1000)


async def settled(bus: AlertBus, couriers: Collection[Courier], n: int) -> None:
    """Wait until `n` alerts are stored and every courier has delivered or passed over all of them."""

    async def done() -> bool:
        alerts = await stored(bus)
        return len(alerts) == n and all(c.cursor == alerts[-1].seq for c in couriers)

    await until(done, 10.0, f"{n} alerts stored and handled by every courier")


async def test_alerts_arrive_in_order_with_the_standard_webhooks_headers(db_url: str) -> None:
    text_secret = "a passphrase, not base64: ünïcode"
    async with (
        running_bus(db_url) as bus,
        receiving(SECRET) as whsec, receiving(text_secret) as text, receiving(None) as unsigned,
    ):
        sinks = [hook("whsec", whsec.url, secret=SECRET), hook("text", text.url, secret=text_secret),
                 hook("unsigned", unsigned.url)]
        async with delivering(bus, *sinks):
            bus.publish(Notice(OFFLINE, "gate", {"reason": "no packets for 5 s"}))
            for n in range(5):
                bus.publish(alarm(n))
            bus.publish(Notice(AlertKind.STORAGE_LOW, None, {"free_gib": 3.5}))
            for receiver in (whsec, text, unsigned):
                await arrive(receiver, 7)
        alerts = await stored(bus)
    for receiver in (whsec, text, unsigned):
        assert receiver.rejected == []
        assert receiver.ids == [a.id for a in alerts]
        assert receiver.bodies == [a.as_json() for a in alerts]
        assert receiver.raw[0] == json.dumps(alerts[0].as_json(), separators=(",", ":"), ensure_ascii=False).encode()
        assert receiver.headers[0]["user-agent"] == f"pantau/{gateway_version()}"
        assert all(abs(int(h["webhook-timestamp"]) - time.time()) < 60 for h in receiver.headers)
    assert all(h["webhook-signature"].startswith("v1,") for h in whsec.headers + text.headers)
    assert not any("webhook-signature" in h for h in unsigned.headers)


async def test_a_receiver_down_for_seconds_gets_every_alert_once_in_order_when_back(db_url: str) -> None:
    async with running_bus(db_url) as bus, receiving(SECRET) as receiver:
        async with delivering(bus, hook("city", receiver.url, secret=SECRET)) as (courier,):
            bus.publish(alarm(0))
            await arrive(receiver, 1)
            await receiver.stop()
            for n in range(1, 6):  # five seconds down, an alert each second
                bus.publish(alarm(n))
                await asyncio.sleep(1.0)
            assert len(receiver.ids) == 1 and courier.failed >= 3
            assert courier.last_error == "cannot connect: Connection refused"
            await receiver.start()  # the same port
            await arrive(receiver, 6)
            await asyncio.sleep(1.0)  # and nothing more comes
        alerts = await stored(bus)
    assert receiver.ids == [a.id for a in alerts] and len(set(receiver.ids)) == 6
    assert [b["details"] for b in receiver.bodies] == [{"alarm": "motion", "n": n} for n in range(6)]
    assert receiver.rejected == []


async def test_a_gateway_restart_during_an_outage_loses_nothing_and_resends_nothing_taken(db_url: str) -> None:
    async with receiving(SECRET) as receiver:
        async with running_bus(db_url) as bus, delivering(bus, hook("city", receiver.url, secret=SECRET)):
            bus.publish(alarm(0))
            bus.publish(alarm(1))
            await arrive(receiver, 2)
            await receiver.stop()
            bus.publish(alarm(2))
            bus.publish(alarm(3))
            await until(lambda: _count(bus, 4), what="four alerts stored")
        # a new bus and courier on the same database, as after a restart; the receiver still down
        async with running_bus(db_url) as bus, delivering(bus, hook("city", receiver.url, secret=SECRET)):
            bus.publish(alarm(4))
            await until(lambda: _count(bus, 5), what="five alerts stored")
            await asyncio.sleep(1.0)
            await receiver.start()
            await arrive(receiver, 5)
            await asyncio.sleep(1.0)
            alerts = await stored(bus)
    assert receiver.ids == [a.id for a in alerts] and len(set(receiver.ids)) == 5
    assert [b["details"]["n"] for b in receiver.bodies] == [0, 1, 2, 3, 4]


async def _count(bus: AlertBus, n: int) -> bool:
    return len(await stored(bus)) >= n


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_dead_receivers_slow_neither_publishing_nor_a_live_receiver(db_url: str) -> None:
    async with running_bus(db_url) as bus, receiving(SECRET) as live, silent_server() as hung_port:
        hung = hook("hung", f"http://127.0.0.1:{hung_port}/hook", secret=SECRET, timeout_s=1.5)
        refused = hook("refused", f"http://127.0.0.1:{_unused_port()}/hook", secret=SECRET)
        async with delivering(bus, hung, refused, hook("live", live.url, secret=SECRET)) as couriers:
            for burst in range(3):
                started = time.perf_counter()
                for n in range(10):
                    bus.publish(alarm(10 * burst + n))
                assert time.perf_counter() - started < 0.05
                await arrive(live, 10 * (burst + 1), within=2.0)

            async def hung_gave_up() -> bool:
                return couriers[0].failed >= 1

            await until(hung_gave_up, 5.0, "the hung receiver timed out")
            hung_courier, refused_courier, live_courier = couriers
            assert hung_courier.last_error == "no answer within 1.5 s"
            assert refused_courier.last_error == "cannot connect: Connection refused"
            assert (hung_courier.lag, refused_courier.lag, live_courier.lag) == (30, 30, 0)
    assert [b["details"]["n"] for b in live.bodies] == list(range(30))


async def test_a_planted_camera_password_reaches_no_receiver(db_url: str) -> None:
    planted = "planted-pw"
    async with running_bus(db_url) as bus, receiving(SECRET) as receiver:
        async with delivering(bus, hook("city", receiver.url, secret=SECRET)):
            bus.publish(Notice(OFFLINE, "gate", {"reason": f"rtsp://admin:{planted}@10.0.0.5:554/stream1: timeout"}))
            bus.publish(Notice(AlertKind.CAMERA_DEGRADED, "gate",
                               {"problems": "frozen", "source": f"rtsp://admin:{planted}@10.0.0.5/main"}))
            bus.publish(Notice(ALARM, "gate", {"alarm": "tamper", "snapshot": f"http://admin:{planted}@10.0.0.5/s.jpg"}))
            await arrive(receiver, 3)
    everything = b"".join(receiver.raw) + json.dumps(receiver.headers).encode()
    assert planted.encode() not in everything
    assert "rtsp://***@10.0.0.5:554/stream1: timeout" in receiver.bodies[0]["summary"]["en"]


async def test_receivers_get_the_kinds_and_camera_groups_they_asked_for(db_url: str) -> None:
    async with (
        running_bus(db_url) as bus,
        receiving() as by_kind, receiving() as by_group, receiving() as by_camera,
    ):
        sinks = [hook("kinds", by_kind.url, kinds=[OFFLINE, FULL]), hook("gates", by_group.url, groups=["gates"]),
                 hook("lobby", by_camera.url, cameras=["lobby"], kinds=[OFFLINE, ALARM, FULL])]
        async with delivering(bus, *sinks) as couriers:
            bus.publish(Notice(OFFLINE, "gate", {"reason": "timeout"}))
            bus.publish(Notice(OFFLINE, "lobby", {"reason": "timeout"}))
            bus.publish(alarm(0, "yard"))  # a camera in no group
            bus.publish(alarm(1, "gate-2"))
            bus.publish(Notice(FULL, None, {"problem": "disk full"}))
            bus.publish(alarm(2, "lobby"))
            await settled(bus, couriers, 6)
    got = {r: [(b["kind"], b["camera"]) for b in r.bodies] for r in (by_kind, by_group, by_camera)}
    assert got[by_kind] == [("camera.offline", "gate"), ("camera.offline", "lobby"), ("storage.full", None)]
    assert got[by_group] == [("camera.offline", "gate"), ("camera.alarm", "gate-2"), ("storage.full", None)]
    assert got[by_camera] == [("camera.offline", "lobby"), ("storage.full", None), ("camera.alarm", "lobby")]


def _alert(kind: AlertKind, camera: str | None) -> Alert:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return Alert(seq=1, id=uuid7(at), kind=kind, at=at, severity=Severity.INFO, summary={"en": "x", "id": "x"},
                 camera=camera)


@pytest.mark.parametrize(
    ("config", "kind", "camera", "groups", "wanted"),
    [
        ({}, OFFLINE, "gate", ["gates"], True),
        ({}, FULL, None, [], True),
        ({"kinds": [OFFLINE]}, ALARM, "gate", ["gates"], False),
        ({"kinds": [OFFLINE]}, FULL, None, [], False),  # kinds bind gateway-wide alerts too
        ({"groups": ["gates"]}, OFFLINE, "gate", ["gates", "outside"], True),
        ({"groups": ["gates"]}, OFFLINE, "lobby", ["inside"], False),
        ({"groups": ["*"]}, OFFLINE, "lobby", [], True),  # "*": every camera, as in access rules
        ({"cameras": ["lobby"]}, OFFLINE, "lobby", [], True),
        ({"cameras": ["lobby"]}, OFFLINE, "gate", ["gates"], False),
        ({"cameras": ["lobby"], "groups": ["gates"]}, OFFLINE, "gate", ["gates"], True),  # either one
        ({"cameras": ["lobby"]}, FULL, None, [], True),  # gateway-wide: past the camera filter
        ({"cameras": ["lobby"], "kinds": [OFFLINE]}, FULL, None, [], False),
    ],
)
def test_wants(config: dict[str, object], kind: AlertKind, camera: str | None, groups: list[str],
               wanted: bool) -> None:
    assert hook("x", "http://h/", **config).wants(_alert(kind, camera), groups) is wanted


async def test_a_receiver_with_another_secret_refuses_every_delivery(db_url: str) -> None:
    other = "whsec_" + base64.b64encode(b"another-key-another-key-01234567").decode()
    async with running_bus(db_url) as bus, receiving(other) as receiver:
        async with delivering(bus, hook("city", receiver.url, secret=SECRET)) as (courier,):
            bus.publish(alarm(0))

            async def refused_twice() -> bool:
                return courier.failed >= 2

            await until(refused_twice, 10.0, "two refused deliveries")
            assert courier.last_error == "the receiver answered HTTP 401" and courier.lag == 1
    assert receiver.raw == [] and set(receiver.rejected) == {"bad signature"}


# The Standard Webhooks libraries' own test vector (libraries/python/tests/test_webhooks.py).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID, VECTOR_TS, VECTOR_BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_signature_matches_the_standard_webhooks_test_vector() -> None:
    key = WebhookConfig(name="v", url="http://h/", secret=VECTOR_SECRET).signing_key()
    assert key is not None
    assert signature(key, VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIGNATURE


def test_the_test_receiver_really_verifies() -> None:
    headers = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TS), "webhook-signature": VECTOR_SIGNATURE}
    at = float(VECTOR_TS)
    assert verify(headers, VECTOR_BODY, VECTOR_SECRET, now=at) is None
    assert verify({**headers, "webhook-signature": f"v1,{'A' * 43}= {VECTOR_SIGNATURE}"}, VECTOR_BODY, VECTOR_SECRET,
                  now=at) is None  # one valid signature among several (key rotation)
    assert verify(headers, b'{"test": 2432232315}', VECTOR_SECRET, now=at) == "bad signature"
    assert verify(headers, VECTOR_BODY, SECRET, now=at) == "bad signature"
    assert verify({**headers, "webhook-timestamp": str(VECTOR_TS + 1)}, VECTOR_BODY, VECTOR_SECRET,
                  now=at) == "bad signature"
    assert verify(headers, VECTOR_BODY, VECTOR_SECRET, now=at + 301) == "timestamp outside the tolerance"
    assert verify({k: v for k, v in headers.items() if k != "webhook-signature"}, VECTOR_BODY, VECTOR_SECRET,
                  now=at) == "no signature"


def test_the_readme_verifier_accepts_the_vector_and_a_text_secret_and_nothing_else() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    [snippet] = re.findall(r"```python\n(.*?def authentic.*?)```", readme, re.DOTALL)
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)  # the five lines a receiver is told to copy
    authentic = namespace["authentic"]
    headers = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TS), "webhook-signature": VECTOR_SIGNATURE}
    assert authentic(VECTOR_SECRET, headers, VECTOR_BODY)
    assert not authentic(VECTOR_SECRET, headers, VECTOR_BODY + b" ")
    assert not authentic(SECRET, headers, VECTOR_BODY)
    text = "a passphrase, not base64"
    signed = {**headers, "webhook-signature": signature(text.encode(), VECTOR_ID, VECTOR_TS, VECTOR_BODY)}
    assert authentic(text, signed, VECTOR_BODY) and not authentic(VECTOR_SECRET, signed, VECTOR_BODY)


@pytest.mark.parametrize("answer", [307, 410, 500])
async def test_only_2xx_delivers_and_a_redirect_is_not_followed(answer: int) -> None:
    async with (
        receiving(SECRET) as elsewhere,
        receiving(SECRET, answer=answer, location=elsewhere.url) as receiver,
    ):
        sink = hook("city", receiver.url, secret=SECRET)
        async with in_background(sink.run()):
            with pytest.raises(DeliveryFailed) as failed:
                await sink.deliver(_alert(OFFLINE, "gate"))
    assert failed.value.detail == f"the receiver answered HTTP {answer}"
    assert receiver.rejected == [] and elsewhere.raw == [] and elsewhere.rejected == []


async def test_a_delivery_outside_run_fails_instead_of_hanging() -> None:
    sink = hook("city", f"http://127.0.0.1:{_unused_port()}/hook", timeout_s=0.2)
    with pytest.raises(DeliveryFailed, match="not running"):
        await sink.deliver(_alert(OFFLINE, "gate"))


@pytest.mark.parametrize(
    ("secret", "error"),
    [
        ("whsec_not*base64*at*all!", "must be base64 after it"),
        ("whsec_" + base64.b64encode(b"twelve bytes").decode(), "at least 16 bytes"),
    ],
)
def test_a_bad_whsec_secret_is_refused_with_its_line_and_not_echoed(tmp_path: Path, secret: str, error: str) -> None:
    path = tmp_path / "pantau.yaml"
    path.write_text(f"alerts:\n  webhooks:\n    - name: city\n      url: https://h/in\n      secret: '{secret}'\n")
    with pytest.raises(ConfigError) as refused:
        load_settings(path, environ={})
    [problem] = refused.value.problems
    assert problem.startswith(f"{path}:5: ") and error in problem
    assert secret not in problem


def test_signing_keys_and_configured_sinks() -> None:
    config = AlertsConfig.model_validate({"webhooks": [
        {"name": "ops", "url": "https://h/in", "secret": "plain text secret, 16+"},
        {"name": "wall", "url": "https://h/wall", "retry": {"initial_s": 2}},
    ]})
    (ops, ops_retry), (wall, wall_retry) = configured_sinks(config)
    assert (ops.name, wall.name) == ("webhook:ops", "webhook:wall")
    assert isinstance(ops, WebhookSink) and isinstance(wall, WebhookSink)
    assert ops.config.signing_key() == b"plain text secret, 16+" and wall.config.signing_key() is None
    assert (ops_retry.initial_s, wall_retry.initial_s) == (1.0, 2.0)
    both = configured_sinks(AlertsConfig.model_validate({"webhooks": [{"name": "ops", "url": "https://h/in"}],
                                                          "mqtt": {"url": "mqtt://h"}}))
    assert [sink.name for sink, _ in both] == ["webhook:ops", "mqtt"]
