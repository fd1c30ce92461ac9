"""Alerts out: the bus every part publishes to (core.alerting.Publisher), the durable outbox, and
the ways out: the SSE feed (gateway/http/eventstream.py), webhooks (Standard Webhooks signatures) and
MQTT."""

from alerts.bus import AlertBus
from alerts.delivery import Courier, DeliveryFailed, Sink
from alerts.model import Alert
from alerts.outbox import Outbox
from alerts.sinks import configured_sinks

__all__ = [
    "Alert",
    "AlertBus",
    "Courier",
    "DeliveryFailed",
    "Outbox",
    "Sink",
    "configured_sinks",
]
