"""Fixtures for MQTT: the shared broker, a private Mosquitto a test may stop and start, and a real
subscriber that records what arrives.

The shared broker: TEST_MQTT_URL (default mqtt://127.0.0.1:1883; scripts/test starts one when
none answers). Locally an unreachable broker skips the MQTT cases with a visible reason; under CI
(CI=true) it fails the run instead, as the PostgreSQL fixtures do.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import pytest

MQTT_URL = os.environ.get("TEST_MQTT_URL", "mqtt://127.0.0.1:1883")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"MQTT is required in CI: {reason}")
    pytest.skip(reason)


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 1883


async def _answers(url: str) -> str | None:
    """None if an MQTT broker accepts a connection at `url`, else why not."""
    host, port = host_port(url)
    try:
        async with aiomqtt.Client(host, port, timeout=3, identifier=f"pantau-test-probe-{uuid.uuid4().hex[:8]}"):
            return None
    except aiomqtt.MqttError as exc:
        return str(exc)


@pytest.fixture(scope="session")
def mqtt_url() -> str:
    """The shared broker's URL; tests on it use a topic prefix of their own (`topic_prefix`)."""
    problem = asyncio.run(_answers(MQTT_URL))
    if problem is not None:
        _unavailable(f"no MQTT broker at {MQTT_URL}: {problem}")
    return MQTT_URL


@pytest.fixture
async def topic_prefix() -> AsyncIterator[str]:
    """A prefix no other test (nor another worker on the shared broker) publishes under; what
    was retained under it on the shared broker is cleared afterwards."""
    prefix = f"pantau-test/{uuid.uuid4().hex[:12]}"
    yield prefix
    with suppress(aiomqtt.MqttError):
        await _clear_retained(MQTT_URL, prefix)


async def _clear_retained(url: str, prefix: str) -> None:
    host, port = host_port(url)
    async with aiomqtt.Client(host, port, timeout=3) as client:
        await client.subscribe(f"{prefix}/#")
        topics: set[str] = set()
        with suppress(TimeoutError):
            async with asyncio.timeout(0.3):  # the broker sends what it retains right after SUBACK
                async for message in client.messages:
                    if message.retain:
                        topics.add(message.topic.value)
        for topic in topics:
            await client.publish(topic, b"", retain=True)  # an empty retained message deletes it


class Mosquitto:
    """A private broker on a fixed port that can be stopped and started again on it."""

    def __init__(self, directory: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.config = directory / "mosquitto.conf"
        # Persistence on: a subscriber's session (and the messages queued for it) survives a restart,
        # so a test sees what was published before its subscriber reconnected. Run as root, mosquitto
        # would switch to its own user, who cannot write our temporary directory.
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {directory}/\nuser {pwd.getpwuid(os.getuid()).pw_name}\n"
        )
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            MOSQUITTO, "-c", str(self.config),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        for _ in range(100):
            if await _answers(self.url) is None:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"mosquitto did not come up on port {self.port}")

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.terminate()
            await process.wait()


@pytest.fixture
async def private_broker(tmp_path: Path) -> AsyncIterator[Mosquitto]:
    """A Mosquitto of this test's own, started."""
    if not os.access(MOSQUITTO, os.X_OK):
        _unavailable(f"no mosquitto binary at {MOSQUITTO} (Debian package mosquitto)")
    broker = Mosquitto(tmp_path)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


@dataclass(frozen=True)
class Received:
    topic: str
    payload: str
    retain: bool

    def json(self) -> Any:
        return json.loads(self.payload)


class Inbox:
    """What a real MQTT client subscribed to `PREFIX/#` received, in order."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.connected = asyncio.Event()

    def on(self, topic: str) -> list[Received]:
        return [m for m in self.messages if m.topic == topic]

    async def until(self, check: Callable[[Inbox], bool], within: float = 15.0, what: str = "messages") -> None:
        deadline = asyncio.get_running_loop().time() + within
        while not check(self):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{what}: not within {within} s; got {[(m.topic, m.payload) for m in self.messages]}")
            await asyncio.sleep(0.05)


async def _subscribe(url: str, topic: str, inbox: Inbox, identifier: str, persistent: bool) -> None:
    # Reconnects (quickly) when the broker goes: a test may stop its private broker.
    host, port = host_port(url)
    while True:
        try:
            async with aiomqtt.Client(host, port, identifier=identifier, clean_session=not persistent) as client:
                await client.subscribe(topic, qos=1)
                inbox.connected.set()
                async for message in client.messages:
                    payload = message.payload
                    text = payload.decode() if isinstance(payload, bytes | bytearray) else str(payload)
                    inbox.messages.append(Received(message.topic.value, text, message.retain))
        except aiomqtt.MqttError:
            inbox.connected.clear()
            await asyncio.sleep(0.1)


@asynccontextmanager
async def subscribed(url: str, topic: str, persistent: bool = False) -> AsyncIterator[Inbox]:
    """A real client subscribed to `topic` (QoS 1) for the block: the inbox records every message.

    `persistent=True` keeps the session across a broker restart (with persistence), so messages
    published while the subscriber was away are queued for it."""
    inbox = Inbox()
    identifier = f"pantau-test-sub-{uuid.uuid4().hex[:8]}"
    task = asyncio.create_task(_subscribe(url, topic, inbox, identifier, persistent))
    try:
        await asyncio.wait_for(inbox.connected.wait(), 10)
        yield inbox
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
