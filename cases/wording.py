"""How cases' printed documents say things: their labels, local times, dates in words, big numbers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from cases.labels import LABELS

Say = Callable[..., str]


def words(language: str) -> Say:
    """`say(key, **values)`: the label in `language`, filled in; an unknown key prints as itself."""
    table = LABELS[language]

    def say(key: str, **values: object) -> str:
        text = table.get(key, key)
        return text.format(**values) if values else text

    return say


def term(say: Say, prefix: str, value: str | None) -> str:
    """A stored code (a channel, a state) in words, or the code itself when there is no word for it."""
    if not value:
        return say("dash")
    word = say(f"{prefix}.{value}")
    return value if word == f"{prefix}.{value}" else word


def instant(value: str | datetime) -> datetime:
    """An RFC 3339 text (or a datetime) as an aware UTC datetime."""
    when = value if isinstance(value, datetime) else datetime.fromisoformat(value.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return when.astimezone(UTC)


def local(value: str | datetime | None, zone: ZoneInfo, pattern: str = "%d-%m-%Y %H:%M:%S") -> str:
    """The instant in the room's time zone, "09-03-2026 14:05:00"; a dash when there is none."""
    if value is None or value == "":
        return "–"
    return instant(value).astimezone(zone).strftime(pattern)


def zone_name(zone: ZoneInfo, when: datetime) -> str:
    """The zone's abbreviation at `when` ("WIB"), or its key when it has none."""
    name = when.astimezone(zone).tzname() or zone.key
    # Zones without an abbreviation of their own print "+07"; the key is clearer then.
    return zone.key if name.startswith(("+", "-")) else name


def long_date(when: datetime, zone: ZoneInfo, say: Say) -> tuple[str, str, str]:
    """(weekday, "9 Maret 2026", "14.05 WIB") of an instant in the room's zone, as a letter writes them."""
    there = when.astimezone(zone)
    weekday = say("weekdays").split()[there.weekday()]
    month = say("months").split()[there.month - 1]
    return weekday, f"{there.day} {month} {there.year}", f"{there:%H.%M} {zone_name(zone, when)}"


def grouped(number: int, language: str) -> str:
    """An integer with thousands grouped: 12.345.678 in Indonesian, 12,345,678 in English."""
    text = f"{number:,}"
    return text.replace(",", ".") if language == "id" else text
