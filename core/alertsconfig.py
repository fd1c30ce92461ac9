"""The `alerts:` section: what is published, for how long it can be replayed, and where it goes."""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator

from core.alerting import AlertKind
from core.configbase import BackoffConfig, Strict
from core.destinations import literal_address, refused_address, refused_name

SINK_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
#: Standard Webhooks' marker of a base64-serialized signing key.
WHSEC = "whsec_"


def _key(secret: str) -> bytes:
    if secret.startswith(WHSEC):
        return base64.b64decode(secret.removeprefix(WHSEC), validate=True)
    return secret.encode()


class WebhookConfig(Strict):
    """One receiver: alerts POSTed as JSON, signed the Standard Webhooks way, redelivered until taken."""

    name: str = Field(description="Stable name ([a-z0-9-]): where its delivery cursor and metrics are kept.")
    url: str = Field(description="http:// or https:// URL the alerts are POSTed to.")
    kinds: list[AlertKind] = Field(default_factory=list, description="Kinds sent; empty: every kind.")
    cameras: list[str] = Field(default_factory=list, description="Camera ids; empty (and no groups): every camera.")
    groups: list[str] = Field(default_factory=list, description="Camera groups; an alert of any camera in one is sent.")
    secret: str | None = Field(
        None,
        min_length=16,
        description="HMAC-SHA256 key: 'whsec_' + base64 of 16+ bytes (Standard Webhooks), or any other text of "
        "16+ characters (its UTF-8 bytes are the key). None: unsigned.",
    )
    timeout_s: float = Field(10.0, gt=0, le=120, description="Timeout of one delivery.")
    retry: BackoffConfig = Field(
        default_factory=lambda: BackoffConfig(initial_s=1.0, max_s=300.0),
        description="Redelivery delays after a failure (the receiver's queue waits; others go on).",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not SINK_NAME.fullmatch(v):
            raise ValueError("name must be 1-32 of [a-z0-9-], starting and ending with a letter or digit")
        return v

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _sink_url(v, ("http", "https"), "a webhook url", "use secret")

    @field_validator("secret")
    @classmethod
    def _secret(cls, v: str | None) -> str | None:
        if v is not None and v.startswith(WHSEC):
            try:
                key = _key(v)
            except binascii.Error:
                raise ValueError("a secret starting with 'whsec_' must be base64 after it") from None
            if len(key) < 16:
                raise ValueError("a 'whsec_' secret must hold at least 16 bytes (Standard Webhooks: 24 or more)")
        return v

    def signing_key(self) -> bytes | None:
        """The HMAC key: the base64 after 'whsec_' decoded, else the secret's UTF-8; None: unsigned."""
        return None if self.secret is None else _key(self.secret)


class MqttConfig(Strict):
    """An MQTT broker: every alert under PREFIX/events/KIND, retained camera states, a Last Will."""

    url: str = Field(description="mqtt://host[:1883] or mqtts://host[:8883].")
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = Field(None, description="CA certificate(s) for mqtts://; default: the system's.")
    topic_prefix: str = Field("pantau", min_length=1, max_length=64, description="First level of every topic.")
    qos: Literal[0, 1, 2] = Field(1, description="QoS of published alerts (states and availability use it too).")
    client_id: str = Field("pantau", min_length=1, max_length=64, description="MQTT client id (unique per broker).")
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keepalive; the broker sends the Will after 1.5x.")
    kinds: list[AlertKind] = Field(default_factory=list, description="Kinds published; empty: every kind.")
    retry: BackoffConfig = Field(
        default_factory=lambda: BackoffConfig(initial_s=1.0, max_s=60.0),
        description="Reconnect delays while the broker is away (alerts wait in the outbox).",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _sink_url(v, ("mqtt", "mqtts"), "an MQTT url", "put them in username and password")

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if any(c in v for c in "#+\0") or v.startswith("/") or v.endswith("/"):
            raise ValueError("topic_prefix may not hold # + or NUL, nor start or end with /")
        return v


class AlertsConfig(Strict):
    """Alerts pushed to people and systems (alerts/): the outbox, SSE, webhooks, MQTT."""

    enabled: bool = Field(True, description="Publish alerts (the outbox and the SSE feed); sinks below are optional.")
    keep_h: float = Field(
        24.0, ge=1, le=24 * 90,
        description="Alerts kept in the outbox: how far back a reconnecting client can resume, and how long an "
        "unreachable receiver's alerts wait.",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list, description="When set, webhook and MQTT hosts must be among these names."
    )
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    mqtt: MqttConfig | None = None
    flap_window_s: float = Field(60.0, ge=5, le=3600, description="Window in which a camera's state changes are counted.")
    flap_threshold: int = Field(
        3, ge=2, le=100, description="Online/offline changes within the window that make a camera `flapping`."
    )
    flap_hold_down_s: float = Field(
        120.0, ge=5, le=86400, description="Quiet time before a flapping camera's state is announced again."
    )
    stall_factor: float = Field(
        2.0, ge=1.5, le=20, description="recording.stalled after this many segment lengths without a sealed segment."
    )
    storage_low_free_bytes: int = Field(
        5 * 1024**3, ge=0, description="storage.low below this much free space (a warning before the floor)."
    )
    signin_burst: int = Field(10, ge=2, le=10_000, description="Failed sign-ins within the window that raise an alert.")
    signin_burst_window_s: float = Field(60.0, ge=1, le=86400, description="Window for signin_burst.")

    @field_validator("allowed_hosts")
    @classmethod
    def _lower(cls, v: list[str]) -> list[str]:
        return [h.strip().lower() for h in v]

    @field_validator("webhooks")
    @classmethod
    def _webhooks(cls, v: list[WebhookConfig], info: ValidationInfo) -> list[WebhookConfig]:
        names = [w.name for w in v]
        for index, hook in enumerate(v):
            if names.index(hook.name) != index:
                raise ValueError(f"webhook name {hook.name!r} is used twice (entries {names.index(hook.name)} and {index})")
            _allowed(hook.url, info.data.get("allowed_hosts") or [], f"webhook {hook.name!r}")
        return v

    @field_validator("mqtt")
    @classmethod
    def _mqtt(cls, v: MqttConfig | None, info: ValidationInfo) -> MqttConfig | None:
        if v is not None:
            _allowed(v.url, info.data.get("allowed_hosts") or [], "the MQTT broker")
        return v


def _sink_url(url: str, schemes: tuple[str, str], what: str, credentials: str) -> str:
    """`url` if its scheme is one of `schemes`, it names a host and it holds no credentials."""
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(f"{what} must be {schemes[0]}:// or {schemes[1]}:// with a host")
    if parts.username or parts.password:
        raise ValueError(f"put no credentials in {what}; {credentials}")
    address = literal_address(parts.hostname)
    refused = refused_address(address) if address is not None else refused_name(parts.hostname)
    if refused is not None:  # never a receiver: where cloud metadata answers (core/destinations.py)
        raise ValueError(f"{what} may not point there: {refused}")
    return url


def _allowed(url: str, allowed: list[str], what: str) -> None:
    host = (urlsplit(url).hostname or "").lower()
    if allowed and host not in allowed:
        raise ValueError(f"{what}: host {host!r} is not in alerts.allowed_hosts")
