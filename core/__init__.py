"""The leaf every package stands on: config models and loading, the database base and engine, the
clock, errors, alert vocabulary, UTC text, backoff, task maps. Modules, not re-exports: import the
one you need (`from core.clock import Clock`)."""

__all__ = [
    "alerting", "alertsconfig", "backoff", "clock", "config", "configbase", "configfile", "db", "errors",
    "redact", "schemes", "taskmap", "utctime", "version",
]
