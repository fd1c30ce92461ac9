"""Counting repeated events per key so that each key reports at most once a minute: the first event of
a minute at once, the later ones held back and counted into the key's next report. Used wherever an
anonymous caller can repeat a refusal at will (gateway/refusallog.py, onvif_server/access.py)."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from core.clock import Clock

WINDOW_S = 60.0
# Bound on the keys tracked, so a flood from many addresses or names cannot grow memory without
# limit; beyond it every new key shares one window.
MAX_KEYS = 4096

K = TypeVar("K", bound=Hashable)


@dataclass
class _Window:
    opened: float
    held: int = 0
    reason: str = ""
    who: str = ""


@dataclass(frozen=True, slots=True)
class Held(Generic[K]):
    """A key's events held back and now due: how many, the last one's reason and who."""

    key: K
    count: int
    reason: str
    who: str


class MinuteTally(Generic[K]):
    """Per key, the first event of a minute is reported at once and the later ones are held back
    and counted into the key's next report. Pure logic over an injected clock."""

    def __init__(self, clock: Clock, overflow: K, window_s: float = WINDOW_S, max_keys: int = MAX_KEYS) -> None:
        self._clock = clock
        self._overflow = overflow
        self._window_s = window_s
        self._max_keys = max_keys
        self._windows: dict[K, _Window] = {}

    def note(self, key: K, reason: str = "", who: str = "") -> tuple[K, int] | None:
        """Count an event: (key, count to report now) when it opens the key's minute, where count is
        it plus the events held back before it; None when it is held back (its reason and `who`
        kept for the key's next report)."""
        now = self._clock.monotonic()
        if key not in self._windows and len(self._windows) >= self._max_keys:
            key = self._overflow
        window = self._windows.get(key)
        if window is not None and now - window.opened < self._window_s:
            window.held += 1
            window.reason, window.who = reason, who
            return None
        held = window.held if window is not None else 0
        self._windows[key] = _Window(opened=now)
        return key, 1 + held

    def due(self, stopping: bool = False) -> list[Held[K]]:
        """Held-back counts to report now (key, count, the last reason and who): a key's window with no
        event for a second minute (an event would have carried the count), or all when `stopping`.
        Quiet windows are forgotten."""
        now = self._clock.monotonic()
        out: list[Held[K]] = []
        for key, window in list(self._windows.items()):
            age = now - window.opened
            if window.held == 0 and (stopping or age >= self._window_s):
                del self._windows[key]
            elif window.held and (stopping or age >= 2 * self._window_s):
                out.append(Held(key, window.held, window.reason, window.who))
                del self._windows[key]
        return out

    def next_due(self) -> float:
        """Seconds until `due` may have something to do."""
        now = self._clock.monotonic()
        ends = [w.opened + (2 if w.held else 1) * self._window_s for w in self._windows.values()]
        return max(0.0, min(ends) - now) if ends else self._window_s
