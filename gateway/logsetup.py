"""Process logging: text or JSON lines, with credentials scrubbed from every message."""

from __future__ import annotations

import json
import logging
import sys

from core.redact import scrub

class ScrubbingFormatter(logging.Formatter):
    """Text format, scrubbed."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line, scrubbed; `extra=` context fields are kept."""

    _STANDARD = set(vars(logging.makeLogRecord({})))

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self._STANDARD and key not in body:
                body[key] = value if isinstance(value, (int, float, bool)) else str(value)
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return scrub(json.dumps(body))


def configure(level: str, fmt: str) -> None:
    """Install one stderr handler on the root logger."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(ScrubbingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # aiohttp's access log is chatty and prints query strings (tokens may travel there).
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("libav").setLevel(logging.ERROR)
