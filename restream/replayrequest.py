"""What an RTSP replay request asks for: the window of `?start=&end=` in the URL (ffmpeg, VLC, scripts)
and ONVIF Profile G's `Range: clock=` in PLAY (the ONVIF Streaming Specification, section 6: replay).
Pure: text in, times out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

from core.utctime import RFC3339_HINT, parse_rfc3339

#: The suffix of a camera's replay mount: rtsp://HOST:PORT/CAMERA_ID/playback.
PLAYBACK = "playback"
#: The RTSP option tag a Profile G client sends in `Require:` on every request of a replay.
ONVIF_REPLAY = "onvif-replay"

# RFC 2326 3.7 absolute time as ONVIF sends it: 19961108T142300Z or 19961108T142300.25Z.
_CLOCK = re.compile(r"(\d{8})T(\d{6})(?:\.(\d{1,9}))?Z")


class BadReplayRequest(ValueError):
    """The URL's query or the Range header cannot be read: the request gets 400."""


@dataclass(frozen=True, slots=True)
class Window:
    """[start, end) of recorded time to replay."""

    start: datetime
    end: datetime


def window_of_query(query: str | None, earliest: datetime | None, now: datetime) -> Window:
    """The window of `start=` (default: the camera's earliest recording) and `end=` (default: now)
    in `query`; BadReplayRequest for unknown keys, bad times, or an empty window."""
    fields = parse_qs(query or "", keep_blank_values=True, strict_parsing=False)
    unknown = set(fields) - {"start", "end"}
    if unknown:
        raise BadReplayRequest(f"unknown query key(s) {sorted(unknown)}: only start and end are read")
    start = _one(fields, "start") or earliest
    end = _one(fields, "end") or now
    if start is None:
        raise BadReplayRequest("the camera has no recording")
    if start >= end:
        raise BadReplayRequest("start must be before end")
    return Window(start, end)


def _one(fields: dict[str, list[str]], key: str) -> datetime | None:
    values = fields.get(key)
    if not values:
        return None
    if len(values) > 1:
        raise BadReplayRequest(f"{key} given {len(values)} times")
    try:
        return parse_rfc3339(values[0]).astimezone(UTC)
    except ValueError as exc:
        raise BadReplayRequest(f"{key} {exc}; {RFC3339_HINT}") from exc


def parse_clock(text: str) -> datetime:
    """One RFC 2326 absolute time (`20261205T060000Z`, `20261205T060000.5Z`) as an aware UTC datetime."""
    match = _CLOCK.fullmatch(text.strip())
    if match is None:
        raise BadReplayRequest(f"{text[:40]!r} is not an RTSP clock time like 20261205T060000Z")
    day, clock, fraction = match.groups()
    try:
        at = datetime.strptime(day + clock, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError as exc:
        raise BadReplayRequest(f"{text[:40]!r} is not a valid time") from exc
    if fraction:
        at += timedelta(microseconds=int((fraction + "000000")[:6]))
    return at


def clock_range(header: str | None) -> tuple[datetime, datetime | None] | None:
    """The start and end (None: open) of a `Range: clock=START-[END]` header; None for no header or
    another unit (npt, smpte: ffmpeg's `npt=0.000-` means "from where the URL said")."""
    if header is None:
        return None
    text = header.strip()
    if not text.startswith("clock="):
        return None
    spec = text[len("clock="):].split(";", 1)[0]  # `;time=` (when to start) is not honoured
    first, sep, last = spec.partition("-")
    if not sep or not first:
        raise BadReplayRequest(f"Range {text[:60]!r}: a clock range needs a start, e.g. clock=20261205T060000Z-")
    start = parse_clock(first)
    end = parse_clock(last) if last.strip() else None
    if end is not None and end <= start:
        raise BadReplayRequest(f"Range {text[:60]!r}: the end must be after the start")
    return start, end


def format_clock(at: datetime) -> str:
    """`at` as an RFC 2326 absolute time, to the millisecond."""
    at = at.astimezone(UTC)
    return at.strftime("%Y%m%dT%H%M%S") + f".{at.microsecond // 1000:03d}Z"
