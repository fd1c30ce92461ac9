"""Staggered opens: the gateway's cameras start their RTSP connections a few at a time, not all in
the same instant.

A gateway with a hundred cameras that starts (or whose network comes back) would otherwise open
every connection at once: a hundred RTSP handshakes and stream probes on the cameras, the switch and
the gateway's cores in the same second (a thundering herd). Each open takes the next turn of one
`OpenPace` shared by every feed: at most `per_s` opens start per second, spread evenly. A turn is a
start time, not a slot held until the open ends, so a dead camera whose open takes its whole
`open_timeout_s` never holds the others back.
"""

from __future__ import annotations

import asyncio

from core.clock import Clock


class OpenPace:
    """Hands out open times at most `per_s` a second, in the order asked."""

    def __init__(self, per_s: float, clock: Clock) -> None:
        if per_s <= 0:
            raise ValueError("per_s must be positive")
        self._step = 1.0 / per_s
        self._clock = clock
        self._next = float("-inf")

    def reserve(self) -> float:
        """Take the next turn: the seconds to wait before opening (0: now)."""
        now = self._clock.monotonic()
        turn = max(now, self._next)
        self._next = turn + self._step
        return turn - now

    async def turn(self) -> None:
        """Wait for this caller's turn to open."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)
