"""The playback control protocol: JSON text messages on the data channel the viewer opens.

The viewer creates a data channel labelled "control" before its offer. It sends
  {"op": "pause"}   {"op": "play"}   {"op": "seek", "to": "<RFC 3339>"}   {"op": "speed", "rate": 2}
and receives
  {"event": "position", "at": T, "rate": R, "paused": B, "sent": T}  about once a second and after
                                                           each command (`sent`: the server's time then)
  {"event": "gap", "start": T, "end": T, "reason": S}       a span without recording, skipped
  {"event": "end", "at": T}                                 the window is played out (seek to replay)
  {"event": "error", "detail": S}                           a refused command; nothing changed
  {"event": "watermark", "text": S}                         the policy asks the player to show S
  {"event": "closed", "reason": S}                          the server ends the session (revoked...)
T is RFC 3339 UTC; `at` is the time of the last frame sent (or the seek target before one is). While
frames flow, each second's position report goes as a frame leaves, so `at` is fresh at `sent`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

CHANNEL_LABEL = "control"
# A command is a few dozen bytes; anything much larger is not one.
MAX_MESSAGE = 1024


class ControlError(Exception):
    """A command the player refuses; `detail` goes back to the viewer as an error event."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Pause:
    pass


@dataclass(frozen=True, slots=True)
class Play:
    pass


@dataclass(frozen=True, slots=True)
class Seek:
    to: datetime


@dataclass(frozen=True, slots=True)
class Speed:
    rate: float


Command = Pause | Play | Seek | Speed


def parse_command(message: str | bytes) -> Command:
    """One command from a data-channel message; ControlError when it is not one."""
    if not isinstance(message, str) or len(message) > MAX_MESSAGE:
        raise ControlError(f"send commands as JSON text of at most {MAX_MESSAGE} characters")
    try:
        body: Any = json.loads(message)
    except json.JSONDecodeError as exc:
        raise ControlError("a command must be valid JSON") from exc
    if not isinstance(body, dict):
        raise ControlError('a command is an object with "op"')
    op = body.get("op")
    if op == "pause":
        return Pause()
    if op == "play":
        return Play()
    if op == "seek":
        raw = body.get("to")
        if not isinstance(raw, str):
            raise ControlError('seek needs "to": an RFC 3339 time with a zone')
        try:
            to = datetime.fromisoformat(raw)
        except ValueError as exc:
            raise ControlError('seek needs "to": an RFC 3339 time with a zone') from exc
        if to.tzinfo is None:
            raise ControlError('seek "to" needs a zone (e.g. Z or +07:00)')
        return Seek(to)
    if op == "speed":
        rate = body.get("rate")
        if isinstance(rate, bool) or not isinstance(rate, int | float):
            raise ControlError('speed needs "rate": a number')
        return Speed(float(rate))
    raise ControlError('unknown "op"; use pause, play, seek or speed')


def event(name: str, **fields: Any) -> str:
    """A server-to-viewer message."""
    return json.dumps({"event": name, **fields}, separators=(",", ":"))
