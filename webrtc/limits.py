"""How many WHEP sessions the gateway serves at once (`webrtc.max_sessions`) and one holder
(a user, or a disposition token) keeps open (`webrtc.max_sessions_per_user`).

A place is reserved synchronously before negotiation starts, so concurrent offers cannot all
pass the check while each is still negotiating; it is given back when the session ends or fails
to open. Refusals come in bursts (a wall retrying every tile, a script looping); `RefusalBursts`
says which of them is worth an access-log entry, so the log records each burst without drowning.
"""

from __future__ import annotations

import enum
from collections import Counter

from core.errors import Unavailable

# A viewer refused for a full gateway asks again after this; sessions end all the time (tiles
# scrolled away, playbacks played out), so a short wait is worth it.
RETRY_AFTER_S = 10.0
# Refusals of one holder under one cap closer together than this are one burst: one entry.
BURST_S = 60.0


class Cap(enum.StrEnum):
    """Which limit refused a session (the label of the refusal counter)."""

    MAX_SESSIONS = "max_sessions"
    MAX_SESSIONS_PER_USER = "max_sessions_per_user"


class SessionCapReached(Unavailable):
    """A session refused because a cap is full (503 with Retry-After)."""

    kind = "session-cap-reached"

    def __init__(self, detail: str, cap: Cap, holder: str) -> None:
        super().__init__(detail, RETRY_AFTER_S)
        self.cap = cap
        self.holder = holder


class Reservation:
    """One session's place under the caps; `release()` gives it back (only the first call counts)."""

    def __init__(self, limits: SessionLimits, holder: str) -> None:
        self._limits = limits
        self.holder = holder
        self.released = False

    def release(self) -> None:
        """Give the place back; calling it again does nothing."""
        if not self.released:
            self.released = True
            self._limits._give_back(self.holder)


class SessionLimits:
    """Counts open (and opening) sessions, in total and per holder."""

    def __init__(self, max_sessions: int, max_per_holder: int) -> None:
        self.max_sessions = max_sessions
        self.max_per_holder = max_per_holder
        self._held: Counter[str] = Counter()
        self._total = 0
        #: Sessions refused since start, per cap.
        self.refused: Counter[Cap] = Counter()

    @property
    def in_use(self) -> int:
        """Sessions open or being negotiated."""
        return self._total

    def held_by(self, holder: str) -> int:
        """Places `holder` holds now."""
        return self._held[holder]

    def reserve(self, holder: str) -> Reservation:
        """A place for one more session of `holder`, or Unavailable (503 with Retry-After; the HTTP
        layer logs each refusal, `refused` counts them for /metrics). Synchronous on purpose:
        nothing can run between the check and the count."""
        if self._total >= self.max_sessions:
            self.refused[Cap.MAX_SESSIONS] += 1
            raise SessionCapReached(
                f"the gateway already serves {self.max_sessions} WHEP sessions (webrtc.max_sessions); "
                "try again when one ends", Cap.MAX_SESSIONS, holder,
            )
        if self._held[holder] >= self.max_per_holder:
            self.refused[Cap.MAX_SESSIONS_PER_USER] += 1
            raise SessionCapReached(
                f"you already keep {self.max_per_holder} WHEP sessions open (webrtc.max_sessions_per_user; "
                "a disposition link counts as one viewer); close one first", Cap.MAX_SESSIONS_PER_USER, holder,
            )
        self._total += 1
        self._held[holder] += 1
        return Reservation(self, holder)

    def _give_back(self, holder: str) -> None:
        self._total -= 1
        self._held[holder] -= 1
        if self._held[holder] <= 0:
            del self._held[holder]


class RefusalBursts:
    """Which cap refusals get an access-log entry: the first of a burst (per holder and cap), and
    then at most one per `burst_s` while refusals go on, counting the refusals it stands for."""

    def __init__(self, burst_s: float = BURST_S) -> None:
        self._burst_s = burst_s
        # (holder, cap) -> (when its last entry was written, refusals since that entry)
        self._seen: dict[tuple[str, Cap], tuple[float, int]] = {}

    def entry_due(self, holder: str, cap: Cap, now: float) -> int | None:
        """Note one refusal at `now` (monotonic seconds): how many refusals an entry written now
        stands for (this one and those left out since the last entry), or None when the last entry
        is recent enough to cover it."""
        key = (holder, cap)
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self._burst_s:
            self._seen[key] = (seen[0], seen[1] + 1)
            return None
        # A holder quiet for ten bursts is forgotten (with any refusals its last entry left out),
        # so the table stays as small as the set of recent refusers.
        self._seen = {k: v for k, v in self._seen.items() if now - v[0] < 10 * self._burst_s}
        self._seen[key] = (now, 0)
        return 1 + (seen[1] if seen is not None else 0)
