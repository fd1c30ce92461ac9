"""Process logging: text or JSON lines, with credentials scrubbed and control characters escaped
in every message.

Messages carry what clients sent (user names, camera ids from paths, reasons, headers). A newline
or a terminal escape in one of them would otherwise start a forged line in the text log, so the
formatters escape every control character of the message (whoever logged it, however: %-args or
an f-string) before the line is written; one record is always one line. Tracebacks keep their
lines: they come from the code, not from a client.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
from typing import TextIO

from core.redact import scrub

# C0 controls, DEL, C1 controls and the Unicode line and paragraph separators: each can end or
# rewrite a line on a terminal or in a log viewer.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """`text` with every control character written as its escape (a newline as \\n)."""
    return _CONTROL.sub(_escape_char, text)


class ScrubbingFormatter(logging.Formatter):
    """Text format, one line per record: message escaped and scrubbed, a traceback appended."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        # `format` has just set record.message = record.getMessage() (and every handler's formatter
        # sets it afresh), so escaping it here changes this line only.
        record.message = escape_controls(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line, scrubbed; `extra=` context fields are kept. JSON escapes every
    control character, so a client's newline stays inside its field."""

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


class CancelledPoolReset(logging.Filter):
    """Drops SQLAlchemy's ERROR "Exception during reset or similar" when what interrupted the reset
    was a cancellation (a stop, a deadline): the pool then closes the connection, which is all that
    is needed (core.db.ClosingSQLiteConnection lets go of its lock), so it is no error. It came with a
    traceback at about one stop in five. Any other failure of a reset is still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (record.name.startswith("sqlalchemy.pool") and isinstance(exc, asyncio.CancelledError))


class WorkerTag(logging.Filter):
    """Marks every record with the worker that wrote it (`worker`: "w0", "w1"...): workers share stderr."""

    def __init__(self, tag: str) -> None:
        super().__init__()
        self.tag = tag

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = self.tag
        return True


def make_handler(fmt: str, stream: TextIO | None = None, worker: str | None = None) -> logging.Handler:
    """The handler `configure` installs: text or JSON lines to `stream` (stderr), with the worker's tag."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        tag = "%(worker)s " if worker is not None else ""
        handler.setFormatter(ScrubbingFormatter(f"%(asctime)s {tag}%(levelname)s %(name)s: %(message)s"))
    if worker is not None:
        handler.addFilter(WorkerTag(worker))
    handler.addFilter(CancelledPoolReset())
    return handler


def configure(level: str, fmt: str, worker: str | None = None) -> None:
    """Install one stderr handler on the root logger (a worker's lines carry its tag)."""
    handler = make_handler(fmt, worker=worker)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # aiohttp's access log is chatty and prints query strings (tokens may travel there).
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("libav").setLevel(logging.ERROR)
