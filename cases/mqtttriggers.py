"""Emergency triggers over MQTT: any message on a playbook's `mqtt_topic` fires it through the gate.

One connection to `cases.trigger_broker`, made again with capped backoff after a loss; every
playbook's topic is subscribed on each connect (a broker that restarted without persistence has
forgotten them). The session is persistent (clean_session off) and subscribed with QoS 1, so a
trigger published while Pantau was reconnecting is delivered once it is back instead of lost.
Retained messages are ignored: the broker replays them on every subscribe, and a button pressed
once must not open a case at every reconnect.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from urllib.parse import urlsplit

import aiomqtt

from cases.triggers import NOTE_MAX_CHARS, TriggerGate
from core.backoff import Backoff
from core.casesconfig import Playbook, TriggerBroker
from core.configbase import BackoffConfig
from core.errors import PantauError
from core.waiting import stop_if_cancelled
from policy.audit.entries import Scalar

log = logging.getLogger(__name__)

#: Reconnect delays: soon after a blip, at most half a minute apart while the broker is away.
RECONNECT = BackoffConfig(initial_s=1.0, max_s=30.0)
#: Connecting and subscribing that take longer have failed (a broker that accepts and never answers).
CONNECT_TIMEOUT_S = 10.0
#: The broker is pinged this often; a dead connection is noticed within about 1.5 times this.
KEEPALIVE_S = 30
#: Messages waiting to be read; a flood beyond this is dropped by the client (the gate would
#: collapse it into one burst anyway).
MAX_QUEUED = 1000
#: The longest payload read; the rest is cut (it becomes a note, not a document).
MAX_PAYLOAD = 4 * 1024


def payload_details(payload: bytes) -> dict[str, Scalar]:
    """A message's payload as trigger details, leniently: a JSON object's `note` and `location`,
    else the text (invalid UTF-8 replaced) as the note."""
    text = payload[:MAX_PAYLOAD].decode("utf-8", "replace").strip()
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict) and isinstance(value.get("note", ""), str) and isinstance(value.get("location", ""), str):
        found = {k: value[k] for k in ("note", "location") if value.get(k)}
        if found:
            return found
    return {"note": text[:NOTE_MAX_CHARS]} if text else {}


class MqttTriggers:
    """Subscribes to every playbook's MQTT topic and fires the gate for each message."""

    def __init__(self, broker: TriggerBroker, playbooks: Sequence[Playbook], gate: TriggerGate) -> None:
        self.config = broker
        self._gate = gate
        url = urlsplit(broker.url)
        self._tls = url.scheme == "mqtts"
        self._host = url.hostname or ""
        self._port = url.port or (8883 if self._tls else 1883)
        #: topic filter -> the playbooks it fires (a filter may carry MQTT wildcards).
        self.topics: dict[str, list[str]] = {}
        for p in playbooks:
            if p.mqtt_topic is not None:
                self.topics.setdefault(p.mqtt_topic, []).append(p.id)
        self.connected = False
        self.received = 0

    @property
    def broker(self) -> str:
        """host:port, for logs (the url holds no credentials)."""
        return f"{self._host}:{self._port}"

    async def run(self) -> None:
        """Hold the subscription until cancelled, reconnecting with backoff after any loss."""
        if not self.topics:
            return
        backoff = Backoff(RECONNECT)
        down = False
        while True:
            try:
                async with self._new_client() as client:
                    for topic in self.topics:
                        await client.subscribe(topic, qos=1, timeout=CONNECT_TIMEOUT_S)
                        stop_if_cancelled()  # aiomqtt's wait_for may have swallowed a stop (core/waiting.py)
                    log.info("%s the trigger broker %s: %d topic(s)", "subscribed again at" if down else "subscribed at",
                             self.broker, len(self.topics))
                    down, self.connected = False, True
                    backoff.reset()
                    try:
                        async for message in client.messages:
                            await self._handle(message)
                    finally:
                        self.connected = False
            # aiomqtt hands on what broke the socket (an OSError) as it is when it disconnects.
            except (aiomqtt.MqttError, OSError) as exc:
                stop_if_cancelled()  # aiomqtt can turn a stop into an MqttError: stop all the same
                delay = backoff.next_delay()
                if not down:
                    log.warning("no connection to the trigger broker %s (%s): MQTT triggers wait; reconnecting "
                                "with backoff", self.broker, exc)
                    down = True
                else:
                    log.debug("trigger broker %s still away (%s); next try in %.1f s", self.broker, exc, delay)
                await asyncio.sleep(delay)

    async def _handle(self, message: aiomqtt.Message) -> None:
        if message.retain:
            log.info("ignored a retained message on %s (a replay, not a trigger)", message.topic.value)
            return
        payload = message.payload if isinstance(message.payload, bytes | bytearray) else str(message.payload or "").encode()
        details: dict[str, Scalar] = {"topic": message.topic.value, **payload_details(bytes(payload))}
        self.received += 1
        for pattern, playbooks in self.topics.items():
            if not message.topic.matches(pattern):
                continue
            for playbook in playbooks:
                # There is no one to answer: a failure is logged, and the subscription goes on.
                try:
                    await self._gate.fire(playbook, "mqtt", details, client=f"mqtt://{self.broker}")
                except PantauError as exc:
                    log.warning("MQTT trigger of playbook %s on %s not handled: %s", playbook,
                                message.topic.value, exc.detail)
                except Exception:
                    log.exception("MQTT trigger of playbook %s on %s failed", playbook, message.topic.value)

    def _new_client(self) -> aiomqtt.Client:
        cfg = self.config
        return aiomqtt.Client(
            self._host, self._port, username=cfg.username, password=cfg.password, identifier=cfg.client_id,
            clean_session=False, keepalive=KEEPALIVE_S, timeout=CONNECT_TIMEOUT_S,
            max_queued_incoming_messages=MAX_QUEUED,
            # ca_certs None: the system's CAs; the broker's name is checked against its certificate.
            tls_params=aiomqtt.TLSParameters(ca_certs=None) if self._tls else None,
        )
