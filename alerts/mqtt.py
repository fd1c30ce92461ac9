"""MQTT: every alert as an event, each camera's state retained, Pantau's availability with a Last Will.

Topics under PREFIX (`alerts.mqtt.topic_prefix`):
- `PREFIX/events/camera/offline`: the kind with its dot as a topic level, so `PREFIX/events/camera/#`
  is every camera alert; the payload is `Alert.as_json()`, not retained.
- `PREFIX/cameras/ID/state`: `{"state": online|offline|degraded, "reason", "at"}`, retained.
- `PREFIX/status`: `online` while connected, `offline` on a clean stop and, as the Last Will, when
  the broker loses Pantau; retained.

`run()` holds one connection and makes a new one with capped backoff after a loss; `deliver()`
publishes on it and raises DeliveryFailed while there is none, so the alert stays in the outbox.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit

import aiomqtt

from alerts.delivery import DeliveryFailed
from alerts.model import Alert
from core.alerting import AlertKind
from core.alertsconfig import MqttConfig
from core.backoff import Backoff
from core.configbase import BackoffConfig
from core.utctime import format_utc
from core.waiting import stop_if_cancelled

log = logging.getLogger(__name__)

#: How long one delivery waits for a connection before failing: long enough to ride out a
#: reconnect, short enough that the courier's counters show an outage.
CONNECTION_WAIT_S = 5.0
#: A publish (with QoS 1 or 2: until the broker acknowledged it) that takes longer has failed.
PUBLISH_TIMEOUT_S = 10.0
#: A clean stop waits this long for `offline` to be taken before disconnecting anyway.
GOODBYE_TIMEOUT_S = 3.0
#: The courier's redelivery delays. The reconnect backoff (`alerts.mqtt.retry`) is in `run()`;
#: these stay short so the outbox drains soon after the broker is back.
REDELIVERY = BackoffConfig(initial_s=0.5, max_s=5.0)

ONLINE, OFFLINE = "online", "offline"


class CameraState(enum.StrEnum):
    """What `PREFIX/cameras/ID/state` says."""

    ONLINE = "online"
    OFFLINE = "offline"
    DEGRADED = "degraded"


#: The kinds that set a camera's state, and the detail that says why. `camera.flapping` is not
#: one: the bus holds a flapping camera's changes back and announces where it settled.
STATE_OF: dict[AlertKind, tuple[CameraState, str | None]] = {
    AlertKind.CAMERA_ONLINE: (CameraState.ONLINE, None),
    AlertKind.CAMERA_RECOVERED: (CameraState.ONLINE, None),
    AlertKind.CAMERA_OFFLINE: (CameraState.OFFLINE, "reason"),
    AlertKind.CAMERA_DEGRADED: (CameraState.DEGRADED, "problems"),
}


def event_topic(prefix: str, kind: AlertKind) -> str:
    return f"{prefix}/events/{kind.value.replace('.', '/')}"


def state_topic(prefix: str, camera: str) -> str:
    return f"{prefix}/cameras/{camera}/state"


def status_topic(prefix: str) -> str:
    return f"{prefix}/status"


def camera_state(alert: Alert) -> dict[str, Any] | None:
    """The retained state an alert sets for its camera, or None."""
    if alert.camera is None or alert.kind not in STATE_OF:
        return None
    state, reason_key = STATE_OF[alert.kind]
    reason = (alert.details or {}).get(reason_key) if reason_key else None
    return {"state": state.value, "reason": reason, "at": format_utc(alert.at)}


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class MqttSink:
    """Alerts to one MQTT broker (a `alerts.delivery.Sink`)."""

    name = "mqtt"

    def __init__(self, config: MqttConfig) -> None:
        self.config = config
        url = urlsplit(config.url)
        self._tls = url.scheme == "mqtts"
        self._host = url.hostname or ""
        self._port = url.port or (8883 if self._tls else 1883)
        self._client: aiomqtt.Client | None = None
        self._up = asyncio.Event()
        #: The last state published per camera, published again on every connect: a broker
        #: that restarted without persistence has forgotten its retained messages.
        self._states: dict[str, str] = {}

    @property
    def connected(self) -> bool:
        """Whether a connection to the broker is up now."""
        return self._client is not None

    @property
    def broker(self) -> str:
        """host:port, for logs (the url holds no credentials)."""
        return f"{self._host}:{self._port}"

    def wants(self, alert: Alert, camera_groups: Collection[str]) -> bool:
        """The configured kinds (as events); every camera state change (for the state topic)."""
        return self._event_wanted(alert.kind) or camera_state(alert) is not None

    def _event_wanted(self, kind: AlertKind) -> bool:
        return not self.config.kinds or kind in self.config.kinds

    async def deliver(self, alert: Alert) -> None:
        client = await self._connection()
        prefix, qos = self.config.topic_prefix, self.config.qos
        state = camera_state(alert)
        try:
            if self._event_wanted(alert.kind):
                await client.publish(event_topic(prefix, alert.kind), _json(alert.as_json()), qos=qos,
                                     timeout=PUBLISH_TIMEOUT_S)
            if state is not None and alert.camera is not None:
                payload = _json(state)
                await client.publish(state_topic(prefix, alert.camera), payload, qos=qos, retain=True,
                                     timeout=PUBLISH_TIMEOUT_S)
                self._states[alert.camera] = payload
        except (aiomqtt.MqttError, OSError) as exc:
            raise DeliveryFailed(f"publishing to the MQTT broker {self.broker} failed: {exc}") from exc

    async def _connection(self) -> aiomqtt.Client:
        try:
            async with asyncio.timeout(CONNECTION_WAIT_S):
                await self._up.wait()
        except TimeoutError:
            pass
        if self._client is None:
            raise DeliveryFailed(f"not connected to the MQTT broker {self.broker}")
        return self._client

    async def run(self) -> None:
        """Hold a connection to the broker until cancelled; on a clean stop say `offline` first."""
        backoff = Backoff(self.config.retry)
        loop = asyncio.get_running_loop()
        down_since: float | None = None
        while True:
            client = self._new_client()
            try:
                async with client:
                    try:
                        await self._announce(client)
                        stop_if_cancelled()  # aiomqtt's wait_for may have swallowed a stop (core/waiting.py)
                        if down_since is not None:
                            log.info("MQTT broker %s reachable again after %.0f s", self.broker,
                                     loop.time() - down_since)
                        else:
                            log.info("connected to the MQTT broker %s", self.broker)
                        down_since = None
                        backoff.reset()
                        self._client = client
                        self._up.set()
                        # Pantau subscribes to nothing: the iteration ends only when the connection does.
                        async for _ in client.messages:
                            pass
                    except asyncio.CancelledError:
                        await self._goodbye(client)
                        raise
                    finally:
                        self._lost()
            # aiomqtt hands on what broke the socket (an OSError) as it is when it disconnects.
            except (aiomqtt.MqttError, OSError) as exc:
                # aiomqtt can turn a stop into an MqttError (its disconnect after the goodbye failed):
                # stop all the same.
                stop_if_cancelled()
                delay = backoff.next_delay()
                if down_since is None:
                    down_since = loop.time()
                    log.warning("no connection to the MQTT broker %s (%s); reconnecting with backoff, alerts "
                                "wait in the outbox", self.broker, exc)
                else:
                    log.debug("still no connection to the MQTT broker %s (%s); next try in %.1f s",
                              self.broker, exc, delay)
                await asyncio.sleep(delay)

    def _lost(self) -> None:
        self._client = None
        self._up.clear()

    def _new_client(self) -> aiomqtt.Client:
        # A new client per connection: what an old one had queued is the outbox's to resend.
        cfg = self.config
        return aiomqtt.Client(
            self._host, self._port,
            username=cfg.username, password=cfg.password, identifier=cfg.client_id,
            keepalive=cfg.keepalive_s, timeout=PUBLISH_TIMEOUT_S,
            will=aiomqtt.Will(status_topic(cfg.topic_prefix), OFFLINE, qos=cfg.qos, retain=True),
            # ca_certs None: the system's CAs; the broker's name is checked against its certificate.
            tls_params=aiomqtt.TLSParameters(ca_certs=str(cfg.ca_file) if cfg.ca_file else None) if self._tls else None,
        )

    async def _announce(self, client: aiomqtt.Client) -> None:
        prefix, qos = self.config.topic_prefix, self.config.qos
        await client.publish(status_topic(prefix), ONLINE, qos=qos, retain=True)
        for camera, payload in list(self._states.items()):
            await client.publish(state_topic(prefix, camera), payload, qos=qos, retain=True)

    async def _goodbye(self, client: aiomqtt.Client) -> None:
        # A clean DISCONNECT makes the broker drop the Will, so `offline` is published first.
        try:
            await client.publish(status_topic(self.config.topic_prefix), OFFLINE, qos=self.config.qos,
                                 retain=True, timeout=GOODBYE_TIMEOUT_S)
        except aiomqtt.MqttError as exc:
            log.warning("could not tell the MQTT broker %s that Pantau stops: %s", self.broker, exc)
