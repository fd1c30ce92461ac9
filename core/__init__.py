"""The leaf every package stands on: config models and loading, the database base and engine, the
clock, errors, alert vocabulary, UTC text, backoff, task maps, the CLI's progress bars. Modules, not
re-exports: import the one you need (`from core.clock import Clock`)."""

__all__ = [
    "alerting", "alertsconfig", "backoff", "clock", "config", "configbase", "configfile", "db", "errors",
    "progress", "redact", "schemes", "taskmap", "utctime", "version",
]
