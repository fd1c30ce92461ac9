"""Sign-in throttling: too many failures for one (user, address) pair locks that pair out."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from core.clock import Clock


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


class LoginThrottle:
    """Counts failures per key in a sliding window; pure logic over an injected clock."""

    # Bound on tracked keys, so a spray of random names cannot grow memory without limit.
    MAX_KEYS = 100_000

    def __init__(
        self, clock: Clock, max_failures: int, window_s: float, lockout_s: float
    ) -> None:
        self._clock = clock
        self._max = max_failures
        self._window = window_s
        self._lockout = lockout_s
        self._records: dict[tuple[str, str], _Record] = {}

    def retry_after(self, username: str, address: str) -> float:
        """Seconds until this pair may try again; 0 when it may try now."""
        rec = self._records.get((username.lower(), address))
        if rec is None:
            return 0.0
        return max(0.0, rec.locked_until - self._clock.monotonic())

    def failed(self, username: str, address: str) -> None:
        """Record a failed sign-in."""
        key = (username.lower(), address)
        now = self._clock.monotonic()
        rec = self._records.get(key)
        if rec is None:
            if len(self._records) >= self.MAX_KEYS:
                self._evict(now)
            rec = self._records[key] = _Record()
        rec.failures.append(now)
        while rec.failures and rec.failures[0] <= now - self._window:
            rec.failures.popleft()
        if len(rec.failures) >= self._max:
            rec.locked_until = now + self._lockout
            rec.failures.clear()

    def succeeded(self, username: str, address: str) -> None:
        """Forget failures after a good sign-in."""
        self._records.pop((username.lower(), address), None)

    def _evict(self, now: float) -> None:
        stale = [
            k
            for k, r in self._records.items()
            if r.locked_until <= now and (not r.failures or r.failures[-1] <= now - self._window)
        ]
        for key in stale:
            del self._records[key]
        if len(self._records) >= self.MAX_KEYS:  # still full: drop the oldest entries
            for key in list(self._records)[: self.MAX_KEYS // 10]:
                del self._records[key]
