"""Query parameters and form times, parsed one way for every route: RFC 3339 times with a zone,
integers in bounds, page limits."""

from __future__ import annotations

import re
from datetime import datetime

from aiohttp import web

from core.errors import BadRequest

# Seconds required, fraction up to nanoseconds (kept to microseconds), a zone required. A space
# where the zone's "+" should be is accepted: an unencoded "+07:00" in a query string arrives so.
_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+\- ]\d{2}:\d{2})$"
)


def rfc3339(raw: object, name: str) -> datetime:
    """`raw` as an aware datetime; 400 naming `name` when it is missing or not RFC 3339 with a zone."""
    if not isinstance(raw, str) or not raw:
        raise BadRequest(f"{name} is required (RFC 3339 with a zone)")
    match = _RFC3339.fullmatch(raw)
    if match is None:
        raise BadRequest(f"{name} must be an RFC 3339 time with a zone, e.g. 2026-03-09T14:00:00Z")
    day, clock, fraction, zone = match.groups()
    zone = "+00:00" if zone in ("Z", "z") else "+" + zone[1:] if zone[0] == " " else zone
    text = f"{day}T{clock}{'.' + (fraction + '00000')[:6] if fraction else ''}{zone}"
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadRequest(f"{name} is not a valid time") from exc


def query_time(request: web.Request, name: str, required: bool = True) -> datetime | None:
    """The query parameter `name` as a time; None when it is absent (or empty) and not required."""
    raw = request.query.get(name)
    if not raw and not required:
        return None
    return rfc3339(raw, name)


def query_int(request: web.Request, name: str, default: int | None, low: int = 0, high: int | None = None) -> int | None:
    """The query parameter `name` as an integer in [low, high]; `default` when absent; else 400."""
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"{name} must be an integer") from exc
    if value < low or (high is not None and value > high):
        raise BadRequest(f"{name} must be between {low} and {high if high is not None else 'any'}")
    return value


def query_limit(request: web.Request, high: int, default: int = 100) -> int:
    """`?limit=` for a page of results, brought into [1, high] (400 only when not an integer)."""
    raw = request.query.get("limit")
    if raw is None:
        return default
    try:
        return min(max(int(raw), 1), high)
    except ValueError as exc:
        raise BadRequest("limit must be an integer") from exc
