"""UTC instants as text and from epoch seconds: one spelling for every API, manifest and token; and
RFC 3339 text read one way for every route and form.

The access log's hashed entries keep their own fixed-width spelling (policy/audit/encoding.py):
there the text is part of a hash and may never change with a library's formatting.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

# Seconds required, fraction up to nanoseconds (kept to microseconds), a zone required. A space
# where the zone's "+" should be is accepted: an unencoded "+07:00" in a query string arrives so.
_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+\- ]\d{2}:\d{2})$"
)
RFC3339_HINT = "an RFC 3339 time with a zone, e.g. 2026-03-09T14:00:00Z"


#: The instants a request may name: nothing Pantau keeps is older or newer, and arithmetic on times
#: far outside (a day before 0001-01-01, a window after 9999) would overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def parse_rfc3339(raw: str) -> datetime:
    """`raw` as an aware datetime; ValueError when it is not RFC 3339 with a zone, or not between
    1970 and 2200."""
    match = _RFC3339.fullmatch(raw)
    if match is None:
        raise ValueError(f"must be {RFC3339_HINT}")
    day, clock, fraction, zone = match.groups()
    zone = "+00:00" if zone in ("Z", "z") else "+" + zone[1:] if zone[0] == " " else zone
    text = f"{day}T{clock}{'.' + (fraction + '00000')[:6] if fraction else ''}{zone}"
    try:
        at = datetime.fromisoformat(text)
        in_utc = at.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ValueError("is not a valid time") from exc
    if not EARLIEST <= in_utc < LATEST:
        raise ValueError("must be between 1970 and 2200")
    return at


def format_utc(value: datetime) -> str:
    """RFC 3339 in UTC with a 'Z' (microseconds only when there are any); naive means UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def format_utc_or_none(value: datetime | None) -> str | None:
    """`format_utc(value)`, or None (JSON's null) for no time."""
    return format_utc(value) if value is not None else None


def from_epoch(seconds: float) -> datetime:
    """Seconds since the Unix epoch as an aware UTC datetime."""
    return datetime.fromtimestamp(seconds, UTC)
