"""The sinks the config asks for, each with its redelivery backoff: webhooks, then MQTT."""

from __future__ import annotations

from alerts import mqtt
from alerts.delivery import Sink
from alerts.webhook import WebhookSink
from core.alertsconfig import AlertsConfig
from core.configbase import BackoffConfig


def configured_sinks(config: AlertsConfig) -> list[tuple[Sink, BackoffConfig]]:
    """One entry per `alerts.webhooks[]` and one for `alerts.mqtt` when set."""
    sinks: list[tuple[Sink, BackoffConfig]] = [(WebhookSink(hook), hook.retry) for hook in config.webhooks]
    if config.mqtt is not None:
        sinks.append((mqtt.MqttSink(config.mqtt), mqtt.REDELIVERY))
    return sinks
