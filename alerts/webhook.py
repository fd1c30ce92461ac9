"""The webhook sink: each alert POSTed as JSON to one receiver, signed the Standard Webhooks way.

Headers (https://www.standardwebhooks.com): `webhook-id` (the alert's id, the receiver's dedup
key), `webhook-timestamp` (Unix seconds of this attempt, so a retry carries a fresh one) and, when
a secret is configured, `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
Any 2xx is delivered. Everything else (another status, 3xx included: a webhook is not bounced
elsewhere; a timeout; a refused or broken connection) raises DeliveryFailed and the courier
retries with backoff. A failure's reason never quotes the URL, whose path may itself be a secret.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
from collections.abc import Collection

import aiohttp

from alerts.delivery import DeliveryFailed
from alerts.model import Alert
from core.alertsconfig import WebhookConfig
from core.clock import Clock, SystemClock
from core.version import gateway_version
from core.waiting import within

#: Prefix of a webhook's sink name (its cursor and metrics label), apart from MQTT's.
NAME_PREFIX = "webhook:"


def body_of(alert: Alert) -> bytes:
    """The exact bytes sent and signed: compact UTF-8 JSON of `alert.as_json()`."""
    return json.dumps(alert.as_json(), separators=(",", ":"), ensure_ascii=False).encode()


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for one attempt: `v1,` + base64 HMAC-SHA256 of id.timestamp.body."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def _reason(exc: aiohttp.ClientError | TimeoutError, timeout_s: float) -> str:
    """A short cause, built from the error's kind only: aiohttp's texts can carry the URL."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_s:g} s"
    if isinstance(exc, aiohttp.ClientConnectorError) and exc.os_error.errno:
        return f"cannot connect: {os.strerror(exc.os_error.errno)}"
    return f"connection failed ({type(exc).__name__})"


class WebhookSink:
    """One `alerts.webhooks[]` receiver (an `alerts.delivery.Sink`)."""

    def __init__(self, config: WebhookConfig, clock: Clock | None = None) -> None:
        self.name = NAME_PREFIX + config.name
        self.config = config
        self._key = config.signing_key()
        self._clock = clock or SystemClock()
        self._session: aiohttp.ClientSession | None = None
        self._opened = asyncio.Event()

    def wants(self, alert: Alert, camera_groups: Collection[str]) -> bool:
        """Kinds filter first; cameras and groups narrow camera alerts only.

        A gateway-wide alert (storage, the access log, sign-in bursts) reaches every receiver whose
        kinds take it: a camera's people need to know its recordings stopped because the disk filled.
        """
        cfg = self.config
        if cfg.kinds and alert.kind not in cfg.kinds:
            return False
        if alert.camera is None or not (cfg.cameras or cfg.groups):
            return True
        return alert.camera in cfg.cameras or "*" in cfg.groups or any(g in cfg.groups for g in camera_groups)

    async def run(self) -> None:
        """Hold the HTTP session until cancelled."""
        # No cookies kept between deliveries, no proxy from the environment, redirects refused per request.
        async with aiohttp.ClientSession(
            headers={"User-Agent": f"pantau/{gateway_version()}"},
            cookie_jar=aiohttp.DummyCookieJar(),
        ) as session:
            self._session = session
            self._opened.set()
            try:
                await asyncio.Event().wait()
            finally:
                self._opened.clear()
                self._session = None

    async def deliver(self, alert: Alert) -> None:
        """POST one alert; returns once the receiver answered 2xx, else raises DeliveryFailed."""
        session = await self._running_session()
        body = body_of(alert)
        timestamp = int(self._clock.now().timestamp())
        headers = {"Content-Type": "application/json", "webhook-id": alert.id, "webhook-timestamp": str(timestamp)}
        if self._key is not None:
            headers["webhook-signature"] = signature(self._key, alert.id, timestamp, body)
        timeout_s = self.config.timeout_s
        try:
            async with session.post(
                self.config.url, data=body, headers=headers, allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout_s),
            ) as response:
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Not chained: the cause's text may quote the URL, and a traceback would carry it.
            raise DeliveryFailed(_reason(exc, timeout_s)) from None
        if not 200 <= status < 300:
            raise DeliveryFailed(f"the receiver answered HTTP {status}")

    async def _running_session(self) -> aiohttp.ClientSession:
        # The courier starts run() and its first delivery together; the first may come a moment early.
        await within(self._opened.wait(), self.config.timeout_s)
        if self._session is None:
            raise DeliveryFailed("the webhook sink is not running")
        return self._session
