"""Query parameters and form times, parsed one way for every route: RFC 3339 times with a zone,
integers in bounds, page limits."""

from __future__ import annotations

import re
from datetime import datetime

from aiohttp import web

from core.errors import BadRequest
from core.utctime import parse_rfc3339

def rfc3339(raw: object, name: str) -> datetime:
    """`raw` as an aware datetime; 400 naming `name` when it is missing or not RFC 3339 with a zone."""
    if not isinstance(raw, str) or not raw:
        raise BadRequest(f"{name} is required (RFC 3339 with a zone)")
    try:
        return parse_rfc3339(raw)
    except ValueError as exc:
        raise BadRequest(f"{name} {exc}") from exc


def query_time(request: web.Request, name: str, required: bool = True) -> datetime | None:
    """The query parameter `name` as a time; None when it is absent (or empty) and not required."""
    raw = request.query.get(name)
    if not raw and not required:
        return None
    return rfc3339(raw, name)


#: The largest integer a database column holds (a signed 64-bit BIGINT): a larger one in a query is
#: refused here, not by the database driver as an overflow (a 500).
MAX_INT = 2**63 - 1
_INTEGER = re.compile(r"-?[0-9]{1,19}")


def parse_int(raw: str, name: str) -> int:
    """ASCII digits with an optional minus, as written (Python's int() also takes spaces, `1_000` and
    other scripts' digits); else 400."""
    if not _INTEGER.fullmatch(raw):
        raise BadRequest(f"{name} must be an integer")
    return int(raw)


def query_int(request: web.Request, name: str, default: int | None, low: int = 0, high: int | None = None) -> int | None:
    """The query parameter `name` as an integer in [low, high] (high at most MAX_INT); `default` when
    absent; else 400."""
    raw = request.query.get(name)
    if raw is None:
        return default
    value = parse_int(raw, name)
    top = MAX_INT if high is None else min(high, MAX_INT)
    if value < low or value > top:
        raise BadRequest(f"{name} must be between {low} and {top}")
    return value


def query_limit(request: web.Request, high: int, default: int = 100) -> int:
    """`?limit=` for a page of results, brought into [1, high] (400 only when not an integer)."""
    raw = request.query.get("limit")
    if raw is None:
        return default
    return min(max(parse_int(raw, "limit"), 1), high)


STREAMS = ("main", "sub")


def query_stream(request: web.Request, default: str) -> str:
    """`?stream=main|sub`: which of a camera's streams (recordings of each have their own chain);
    `default` when absent; 400 for anything else."""
    raw = request.query.get("stream")
    if raw is None:
        return default
    if raw not in STREAMS:
        raise BadRequest("stream must be main or sub")
    return raw
