"""Fixtures for MQTT: the shared broker, a private Mosquitto a test may stop and start, and a real
subscriber that records what arrives.

The shared broker: TEST_MQTT_URL (default mqtt://127.0.0.1:1883; scripts/test starts one when
none answers). Locally an unreachable broker skips the MQTT cases with a visible reason; under CI
(CI=true) it fails the run instead, as the PostgreSQL fixtures do.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import pwd
import shutil
import signal
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

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


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    certificate: Path
    key: Path


def tls_files(directory: Path) -> TlsFiles:
    """A CA and a certificate for 127.0.0.1 and localhost that it signed, as PEM files."""
    now = datetime.now(UTC)

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, signer: ec.EllipticCurvePrivateKey,
                    ca: bool, *extensions: x509.ExtensionType) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
        )
        for extension in extensions:
            builder = builder.add_extension(extension, critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    usage = dict.fromkeys(("content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
                           "encipher_only", "decipher_only"), False)
    ca = certificate("pantau test CA", ca_key, "pantau test CA", ca_key, True,
                     x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, **usage))
    server = certificate("127.0.0.1", key, "pantau test CA", ca_key, False,
                         x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                      x509.DNSName("localhost")]),
                         x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]))
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.certificate.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return files


async def password_file(directory: Path, username: str, password: str) -> Path:
    """A Mosquitto password file with one user."""
    path = directory / "passwd"
    process = await asyncio.create_subprocess_exec(
        shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd", "-b", "-c", str(path), username, password)
    assert await process.wait() == 0
    return path


class Mosquitto:
    """A private broker on a fixed port that can be stopped and started again on it.

    With persistence (the default) a subscriber's session and the messages queued for it survive
    a restart, so a test sees what was published before its subscriber reconnected; without, a
    restart forgets every retained message. `tls` (CA, certificate, key) makes it mqtts://;
    `password_file` (mosquitto_passwd) turns anonymous clients away."""

    def __init__(
        self, directory: Path, persistence: bool = True, tls: TlsFiles | None = None, password_file: Path | None = None
    ) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"{'mqtts' if tls else 'mqtt'}://127.0.0.1:{self.port}"
        lines = [f"listener {self.port} 127.0.0.1"]
        if tls is not None:
            lines += [f"cafile {tls.ca}", f"certfile {tls.certificate}", f"keyfile {tls.key}"]
        lines += [f"password_file {password_file}", "allow_anonymous false"] if password_file else ["allow_anonymous true"]
        # Run as root, mosquitto would switch to its own user, who cannot write our temporary directory.
        lines += [f"persistence {str(persistence).lower()}", f"persistence_location {directory}/",
                  f"user {pwd.getpwuid(os.getuid()).pw_name}"]
        self.config = directory / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            MOSQUITTO, "-c", str(self.config),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        for _ in range(100):
            with suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                await writer.wait_closed()
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"mosquitto did not come up on port {self.port}")

    def freeze(self, frozen: bool = True) -> None:
        """Stop (SIGSTOP) or resume (SIGCONT) the broker: a broker that answers nothing."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP if frozen else signal.SIGCONT)

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGCONT)
            process.terminate()
            await process.wait()


@asynccontextmanager
async def mosquitto(directory: Path, **options: Any) -> AsyncIterator[Mosquitto]:
    """A private Mosquitto (options: those of `Mosquitto`), started for the block."""
    if not os.access(MOSQUITTO, os.X_OK):
        _unavailable(f"no mosquitto binary at {MOSQUITTO} (Debian package mosquitto)")
    broker = Mosquitto(directory, **options)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


@pytest.fixture
async def private_broker(tmp_path: Path) -> AsyncIterator[Mosquitto]:
    """A Mosquitto of this test's own, started, with persistence."""
    async with mosquitto(tmp_path) as broker:
        yield broker


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


async def _subscribe(url: str, topic: str, inbox: Inbox, options: dict[str, Any]) -> None:
    # Reconnects (quickly) when the broker goes: a test may stop its private broker.
    host, port = host_port(url)
    while True:
        try:
            async with aiomqtt.Client(host, port, **options) as client:
                await client.subscribe(topic, qos=1)
                inbox.connected.set()
                async for message in client.messages:
                    payload = message.payload
                    text = payload.decode() if isinstance(payload, bytes | bytearray) else str(payload)
                    inbox.messages.append(Received(message.topic.value, text, message.retain))
        except aiomqtt.MqttError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # aiomqtt's disconnect may turn a cancel into an error
                raise asyncio.CancelledError from None
            inbox.connected.clear()
            await asyncio.sleep(0.1)


@asynccontextmanager
async def subscribed(url: str, topic: str, persistent: bool = False, **options: Any) -> AsyncIterator[Inbox]:
    """A real client subscribed to `topic` (QoS 1) for the block: the inbox records every message.

    `persistent=True` keeps the session across a broker restart (with persistence), so messages
    published while the subscriber was away are queued for it. `options` go to `aiomqtt.Client`
    (username, password, tls_params)."""
    inbox = Inbox()
    options = {"identifier": f"pantau-test-sub-{uuid.uuid4().hex[:8]}", "clean_session": not persistent, **options}
    task = asyncio.create_task(_subscribe(url, topic, inbox, options))
    try:
        await asyncio.wait_for(inbox.connected.wait(), 10)
        yield inbox
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
