"""Alerts out: the bus every part publishes to (core.alerting.Publisher), the durable outbox, and
the ways out: the SSE feed, webhooks (Standard Webhooks signatures) and MQTT."""
