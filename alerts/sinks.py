"""The sinks the config asks for, each with its redelivery backoff: webhooks, then MQTT."""

from __future__ import annotations

from alerts.delivery import Sink
from alerts.webhook import WebhookSink
from core.alertsconfig import AlertsConfig
from core.configbase import BackoffConfig


def configured_sinks(config: AlertsConfig) -> list[tuple[Sink, BackoffConfig]]:
    """One entry per `alerts.webhooks[]` and one for `alerts.mqtt` when set."""
    sinks: list[tuple[Sink, BackoffConfig]] = [(WebhookSink(hook), hook.retry) for hook in config.webhooks]
    if config.mqtt is not None:
        # The MQTT sink is being built on its own branch; until it lands the gateway refuses a
        # config that asks for it rather than dropping alerts silently.
        raise NotImplementedError("alerts.mqtt is not built yet")
    return sinks
