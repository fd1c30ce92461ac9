"""Refusals an anonymous caller can repeat at will, logged so that a flood cannot grow the logs.

- A bearer token that is not ours at all (no session or display token we know, no disposition token
  signed with our key) is refused with a plain 401 and a text-log line, at most one a minute per
  client address; the line carries how many were refused since the previous one. No access-log
  entry: nothing was accessed and nobody is named, and the access log is kept for ever.
- A throttled sign-in (the pair is locked out, or its address has its share of password checks in
  flight) is a `sign_in_failed` entry, at most one a minute per user and address; its
  `details.count` is that attempt and those held back since the previous entry. Held-back attempts
  with no later one are written when a second minute has passed, or on stop (as cases/triggers.py
  does for `trigger_refused`).

A failed sign-in that was checked (right shape, wrong password) is not counted here: it is logged
each time, and the throttle ends it after `auth.max_failures`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from core.clock import Clock
from policy.audit.entries import AccessAction, AccessEvent, AccessRecorder

log = logging.getLogger(__name__)

WINDOW_S = 60.0
# Bound on the keys tracked, so a flood from many addresses or names cannot grow memory without
# limit; beyond it every new key shares one window.
MAX_KEYS = 4096
THROTTLED = "throttled after repeated failures"
BUSY = "too many password checks in flight from this address"

K = TypeVar("K", bound=Hashable)


@dataclass
class _Window:
    opened: float
    held: int = 0
    reason: str = ""


class MinuteTally(Generic[K]):
    """Per key, the first event of a minute is reported at once and the later ones are held back
    and counted into the key's next report. Pure logic over an injected clock."""

    def __init__(self, clock: Clock, overflow: K, window_s: float = WINDOW_S, max_keys: int = MAX_KEYS) -> None:
        self._clock = clock
        self._overflow = overflow
        self._window_s = window_s
        self._max_keys = max_keys
        self._windows: dict[K, _Window] = {}

    def note(self, key: K, reason: str = "") -> tuple[K, int] | None:
        """Count an event: (key, count to report now) when it opens the key's minute, where count is
        it plus the events held back before it; None when it is held back."""
        now = self._clock.monotonic()
        if key not in self._windows and len(self._windows) >= self._max_keys:
            key = self._overflow
        window = self._windows.get(key)
        if window is not None and now - window.opened < self._window_s:
            window.held += 1
            window.reason = reason
            return None
        held = window.held if window is not None else 0
        self._windows[key] = _Window(opened=now)
        return key, 1 + held

    def due(self, stopping: bool = False) -> list[tuple[K, int, str]]:
        """Held-back counts to report now (key, count, the last reason): a key's window with no
        event for a second minute (an event would have carried the count), or all when `stopping`.
        Quiet windows are forgotten."""
        now = self._clock.monotonic()
        out: list[tuple[K, int, str]] = []
        for key, window in list(self._windows.items()):
            age = now - window.opened
            if window.held == 0 and (stopping or age >= self._window_s):
                del self._windows[key]
            elif window.held and (stopping or age >= 2 * self._window_s):
                out.append((key, window.held, window.reason))
                del self._windows[key]
        return out

    def next_due(self) -> float:
        """Seconds until `due` may have something to do."""
        now = self._clock.monotonic()
        ends = [w.opened + (2 if w.held else 1) * self._window_s for w in self._windows.values()]
        return max(0.0, min(ends) - now) if ends else self._window_s


class RefusalLog:
    """The rate-limited record of bearer refusals (text log) and throttled sign-ins (access log)."""

    def __init__(self, access_log: AccessRecorder, clock: Clock) -> None:
        self._access_log = access_log
        self._bearers: MinuteTally[str] = MinuteTally(clock, "(other addresses)")
        self._throttled: MinuteTally[tuple[str, str]] = MinuteTally(clock, ("(other users)", "(other addresses)"))

    def bearer_refused(self, address: str, reason: str) -> None:
        """A bearer token that is not ours: one warning line per address a minute, with the count."""
        noted = self._bearers.note(address, reason)
        if noted is not None:
            _warn_bearer(noted[0], noted[1], reason)

    async def sign_in_throttled(self, username: str, address: str, reason: str = THROTTLED) -> None:
        """A sign-in refused before its password was checked: one entry per user and address a minute."""
        name = username[:64]
        noted = self._throttled.note((name.lower(), address), reason)
        if noted is None:
            return
        (user, client), count = noted
        log.warning("sign-in throttled: user=%r address=%s count=%d (%s)", name, client, count, reason)
        await self._access_log.record(_throttled(name if user == name.lower() else user, client, reason, count))

    async def write_due(self, stopping: bool = False) -> None:
        """Write the held-back counts that are due (`stopping`: all of them)."""
        for address, count, reason in self._bearers.due(stopping):
            _warn_bearer(address, count, reason)
        for (user, address), count, reason in self._throttled.due(stopping):
            log.warning("sign-in throttled: user=%r address=%s count=%d (%s)", user, address, count, reason)
            await self._access_log.record(_throttled(user, address, reason, count))

    async def run(self) -> None:
        """Write held-back counts as they fall due until cancelled; on the way out, all of them
        (the access log outlives this task in gateway.app, so they are still signed)."""
        try:
            while True:
                await self.write_due()
                await asyncio.sleep(min(self._bearers.next_due(), self._throttled.next_due()) + 0.05)
        finally:
            await self.write_due(stopping=True)


def _warn_bearer(address: str, count: int, reason: str) -> None:
    log.warning("refused %d bearer token(s) that are not ours from %s in the last minute (last: %s)",
                count, address, reason)


def _throttled(user: str, address: str, reason: str, count: int) -> AccessEvent:
    return AccessEvent(AccessAction.SIGN_IN_FAILED, actor=user, client=address, outcome="deny", reason=reason,
                       details={"count": count})
