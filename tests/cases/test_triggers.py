"""Emergency triggers against a running gateway and the real case book (SQLite and PostgreSQL):
HTTP with the playbook's key, a flood of them, MQTT on a real Mosquitto that goes away and comes
back, and ONVIF digital inputs from the SOAP replay device (tests/onvif/soap_replay.py: a real
PullPoint subscription over HTTP, end to end)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt

from cases.triggers import QUIET_S
from core.config import CameraConfig, Settings
from tests.fixtures_mqtt import host_port, mosquitto
from tests.gatewayutil import Client, call, make_settings, running_gateway, until
from tests.onvif.soap_replay import EventDevice

KEY = "panic-button-key-0123456789"
CAMERAS = [CameraConfig(id="lobby", source="demo://pattern", enabled=False),
           CameraConfig(id="gate", source="demo://pattern", enabled=False)]
PASSWORD = "password-123"
FAST_EVENTS = {"subscription_s": 2, "pull_timeout_s": 1, "retry_initial_s": 0.2, "retry_max_s": 1}


def cases_section(topic: str | None = None, broker: str | None = None, **panic: Any) -> dict[str, Any]:
    """A `cases:` section with the playbook 'panic' (key, topic, cameras) and 'fire' (no triggers)."""
    playbook = {"id": "panic", "name_id": "Tombol panik", "name_en": "Panic button", "trigger_key": KEY,
                "cameras": ["lobby"], "mqtt_topic": topic, "dedup_s": 600, **panic}
    section: dict[str, Any] = {"playbooks": [playbook, {"id": "fire", "name_id": "Kebakaran"}]}
    if broker is not None:
        # A client id of its own: two gateways on one persistent session would throw each other off.
        section["trigger_broker"] = {"url": broker, "client_id": f"pantau-test-{uuid.uuid4().hex[:8]}"}
    return section


def settings_for(tmp_path: Path, db_url: str, cameras: list[CameraConfig] | None = None, **cases: Any) -> Settings:
    return make_settings(tmp_path, db_url, cameras or CAMERAS, cases=cases_section(**cases))


async def tokens(client: Client) -> dict[str, str]:
    """Bearer tokens of the admin and of a supervisor, sam."""
    services = client.gateway.services
    assert services is not None
    await services.users.add("sam", "supervisor", PASSWORD)
    return {"admin": await client.sign_in("admin", client.admin_password()),
            "sam": await client.sign_in("sam", PASSWORD)}


async def trigger(client: Client, playbook: str = "panic", key: str | None = KEY, **kwargs: Any
                  ) -> tuple[int, dict[str, Any]]:
    headers = {"X-Trigger-Key": key} if key is not None else {}
    async with client.http.post(client.url(f"/api/v1/triggers/{playbook}"), headers=headers, **kwargs) as resp:
        return resp.status, await resp.json(content_type=None)


async def emergencies(client: Client, token: str) -> list[dict[str, Any]]:
    body = await call(client, "GET", "/api/v1/cases?kind=emergency", token, 200)
    return list(body["cases"])


async def log_entries(client: Client, token: str, action: str) -> list[dict[str, Any]]:
    body = await call(client, "GET", f"/api/v1/access-log?action={action}&limit=1000", token, 200)
    return [e["payload"] for e in body["entries"]]


async def test_a_trigger_with_the_key_opens_an_emergency_and_refusals_are_logged(tmp_path: Path, db_url: str) -> None:
    async with running_gateway(settings_for(tmp_path, db_url)) as client:
        t = await tokens(client)
        status, body = await trigger(client, json={"note": "tombol ditekan", "location": "Pos 3"})
        assert status == 202 and body["created"] is True, body
        (case,) = await emergencies(client, t["sam"])
        assert (case["id"], case["kind"], case["playbook"], case["state"]) == (body["case"], "emergency", "panic", "opened")
        assert case["location"] == "Pos 3" and case["cameras"] == ["lobby"]
        full = await call(client, "GET", f"/api/v1/cases/{case['id']}", t["sam"], 200)
        opened = full["timeline"][0]
        assert opened["kind"] == "opened" and opened["content"]["source"] == "trigger:http"

        for playbook, key, status in [("panic", "wrong-key-wrong-key-wrong", 401), ("panic", None, 401),
                                      ("fire", KEY, 404), ("nope", KEY, 404)]:
            got, problem = await trigger(client, playbook, key)
            assert (got, problem["status"]) == (status, status), problem
        async with client.http.post(client.url("/api/v1/triggers/panic"), headers={"X-Trigger-Key": KEY},
                                    data=b"x" * 5000, allow_redirects=False) as resp:
            assert resp.status in (413, 415)  # refused, and logged (held back: the same client this minute)
        # One client, one minute: the first refusal is logged; the four after it wait for the next entry.
        (refused,) = await log_entries(client, t["admin"], "trigger_refused")
        assert (refused["client"], refused["outcome"], refused["reason"]) == ("127.0.0.1", "deny", "wrong trigger key")
        assert refused["details"] == {"playbook": "panic", "count": 1}
        # The burst of one closes after its quiet spell: one trigger_received with the case.
        received = await until(lambda: log_entries(client, t["admin"], "trigger_received"), within=QUIET_S + 10,
                               what="trigger_received")
        assert [(r["details"]["count"], r["details"]["case"], r["details"]["created"]) for r in received] == [
            (1, case["id"], True)]
        async with client.http.get(client.url("/api/v1/access-log/export"),
                                   headers={"Authorization": f"Bearer {t['admin']}"}) as resp:
            assert KEY not in await resp.text()  # the key is never logged


async def test_a_flood_of_100_triggers_opens_one_case_and_the_gateway_stays_responsive(
    tmp_path: Path, db_url: str
) -> None:
    async with running_gateway(settings_for(tmp_path, db_url)) as client:
        t = await tokens(client)
        livez: list[float] = []
        flooding = True

        async def watch_livez() -> None:
            # Its own connection pool: the flood takes all of the client's 100 connections.
            async with aiohttp.ClientSession() as session:
                while flooding:
                    started = time.perf_counter()
                    async with session.get(client.url("/livez")) as resp:
                        assert resp.status == 200
                    livez.append(time.perf_counter() - started)
                    await asyncio.sleep(0.01)

        async with asyncio.TaskGroup() as tg:
            watcher = tg.create_task(watch_livez())
            await asyncio.sleep(0.05)
            started = time.perf_counter()
            answers = await asyncio.gather(*(trigger(client, json={"note": f"press {i}"}) for i in range(100)))
            elapsed = time.perf_counter() - started
            flooding = False
            await watcher
        assert [status for status, _ in answers] == [202] * 100
        assert len({body["case"] for _, body in answers}) == 1
        assert [body["created"] for _, body in answers].count(True) == 1
        assert elapsed < 5.0, elapsed
        assert livez and max(livez) < 0.5, max(livez)
        print(f"\n100 triggers answered in {elapsed:.3f} s; /livez {len(livez)} times during it, "
              f"slowest {max(livez) * 1000:.1f} ms")
        (case,) = await emergencies(client, t["sam"])
        full = await call(client, "GET", f"/api/v1/cases/{case['id']}", t["sam"], 200)
        assert [e for e in full["timeline"] if e["kind"] == "triggered"] == []  # one book call for the flood
        received = await until(lambda: log_entries(client, t["admin"], "trigger_received"), within=QUIET_S + 10,
                               what="trigger_received")
        assert [(r["details"]["count"], r["details"]["sources"]) for r in received] == [(100, "http=100")]
        assert len(await log_entries(client, t["admin"], "case_opened")) == 1


async def publish(url: str, topic: str, *payloads: bytes, retain: bool = False) -> None:
    host, port = host_port(url)
    async with aiomqtt.Client(host, port, identifier=f"pantau-test-pub-{uuid.uuid4().hex[:8]}", timeout=5) as pub:
        for payload in payloads:
            await pub.publish(topic, payload, qos=1, retain=retain)


async def test_an_mqtt_message_opens_a_case_and_the_trigger_comes_back_with_the_broker(
    tmp_path: Path, db_url: str
) -> None:
    (tmp_path / "broker").mkdir()
    async with mosquitto(tmp_path / "broker", persistence=False) as broker:
        topic = "site/3/panic"
        # A retained message from before Pantau subscribed is a replay, not a trigger.
        await publish(broker.url, topic, b"stale", retain=True)
        async with running_gateway(settings_for(tmp_path, db_url, topic="site/+/panic", broker=broker.url)) as client:
            t = await tokens(client)
            await asyncio.sleep(1.0)  # subscribed by now; the retained message was ignored
            assert await emergencies(client, t["sam"]) == []
            started = time.perf_counter()
            await publish(broker.url, topic, b'{"note": "panic at gate 3", "location": "Gate 3"}')
            (case,) = await until(lambda: emergencies(client, t["sam"]), within=2.0, what="a case from MQTT")
            print(f"\nMQTT trigger to case in {time.perf_counter() - started:.3f} s")
            assert case["location"] == "Gate 3"
            # A flood on the topic joins the burst under way: still one case, no `triggered` events.
            await publish(broker.url, topic, *(f"press {i}".encode() for i in range(99)))

            await broker.stop()
            # The gateway does not wait for the broker: it answers, and HTTP triggers still work.
            await asyncio.sleep(0.5)
            started = time.perf_counter()
            await call(client, "GET", "/livez", None, 200)
            assert time.perf_counter() - started < 0.5
            status, body = await trigger(client)
            assert (status, body["case"]) == (202, case["id"])

            await asyncio.sleep(QUIET_S)  # the next MQTT message is a burst of its own
            full = await call(client, "GET", f"/api/v1/cases/{case['id']}", t["sam"], 200)
            assert [e for e in full["timeline"] if e["kind"] == "triggered"] == []
            received = await until(lambda: log_entries(client, t["admin"], "trigger_received"), within=5,
                                   what="trigger_received")
            assert [(r["details"]["count"], r["details"]["sources"], r["client"]) for r in received] == [
                (101, "http=1,mqtt=100", f"mqtt://127.0.0.1:{broker.port}")]
            await broker.start()  # without persistence: it forgot the subscription, so Pantau must subscribe again

            async def triggered_again() -> bool:
                await publish(broker.url, topic, b"pressed again")
                full = await call(client, "GET", f"/api/v1/cases/{case['id']}", t["sam"], 200)
                return any(e["kind"] == "triggered" and e["content"]["source"] == "mqtt" for e in full["timeline"])

            await until(triggered_again, within=20, what="a trigger through the restarted broker")
            assert len(await emergencies(client, t["sam"])) == 1


async def test_a_broker_that_answers_nothing_holds_up_neither_start_nor_stop(tmp_path: Path) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'pantau.db'}"
    async with mosquitto(tmp_path) as broker:
        broker.freeze()  # accepts connections, answers nothing
        try:
            started = time.perf_counter()
            async with running_gateway(settings_for(tmp_path, db_url, topic="site/panic", broker=broker.url)) as client:
                assert time.perf_counter() - started < 10
                status, body = await trigger(client)
                assert status == 202 and body["created"] is True
                await call(client, "GET", "/livez", None, 200)
                stopping = time.perf_counter()
            assert time.perf_counter() - stopping < 5
        finally:
            broker.freeze(False)


async def test_a_camera_input_going_active_opens_its_playbook(tmp_path: Path, db_url: str) -> None:
    async with EventDevice(stream_uri="rtsp://127.0.0.1:9/none") as device:
        cameras = [CameraConfig(id="gate", source=device.source(), record=False),
                   CameraConfig(id="lobby", source="demo://pattern", enabled=False)]
        settings = make_settings(tmp_path, db_url, cameras, events=FAST_EVENTS, cases={"playbooks": [
            {"id": "panic", "name_id": "Tombol panik", "cameras": ["gate"],
             "onvif_inputs": [{"camera": "gate", "source": "DIGIT_INPUT_000"}]},
            {"id": "fire", "name_id": "Kebakaran", "onvif_inputs": [{"camera": "gate", "source": "DIN_9"}]},
            {"id": "rescue", "name_id": "Penyelamatan", "onvif_inputs": [{"camera": "lobby"}]},
        ]})
        async with running_gateway(settings) as client:
            t = await tokens(client)
            await device.wait_for(lambda: device.live == 1, within=20)
            device.push("digital_input", "false")  # released: not a press
            await asyncio.sleep(1.5)
            assert await emergencies(client, t["sam"]) == []
            device.push("digital_input", "true")
            (case,) = await until(lambda: emergencies(client, t["sam"]), within=10, what="a case from the input")
            assert (case["playbook"], case["cameras"]) == ("panic", ["gate"])  # not fire (another input), not rescue
            full = await call(client, "GET", f"/api/v1/cases/{case['id']}", t["sam"], 200)
            trigger_details = full["timeline"][0]["content"]
            assert trigger_details["source"] == "trigger:onvif"
            assert trigger_details["trigger"]["input_InputToken"] == "DIGIT_INPUT_000"
            received = await until(lambda: log_entries(client, t["admin"], "trigger_received"), within=QUIET_S + 10,
                                   what="trigger_received")
            assert [(r["camera"], r["client"], r["details"]["sources"]) for r in received] == [
                ("gate", "camera:gate", "onvif=1")]

