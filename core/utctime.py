"""UTC instants as text and from epoch seconds: one spelling for every API, manifest and token.

The access log's hashed entries keep their own fixed-width spelling (policy/audit/encoding.py):
there the text is part of a hash and may never change with a library's formatting.
"""

from __future__ import annotations

from datetime import UTC, datetime


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
