"""Capped exponential backoff with jitter: reconnecting to cameras, redelivering alerts, reconnecting to a broker."""

from __future__ import annotations

import random

from core.config import BackoffConfig


class Backoff:
    """Retry delays: initial_s * multiplier**attempt, capped at max_s, then +-jitter."""

    def __init__(self, cfg: BackoffConfig, rng: random.Random | None = None) -> None:
        self.cfg = cfg
        # A private generator: many cameras failing together (a switch reboots) must not
        # retry in lockstep, and tests can pass a seeded one.
        self._rng = rng or random.Random()
        self.attempt = 0

    def base_delay(self, attempt: int) -> float:
        """The delay before jitter for the given attempt number (0-based)."""
        cfg = self.cfg
        cap = cfg.max_s  # also caps a misconfigured initial_s > max_s
        delay = min(cfg.initial_s, cap)
        # Multiply step by step instead of pow(): stops early and cannot overflow to inf.
        for _ in range(attempt):
            if delay >= cap:
                break
            delay *= cfg.multiplier
        return min(delay, cap)

    def next_delay(self) -> float:
        """Delay before the next attempt; advances `attempt`."""
        base = self.base_delay(self.attempt)
        self.attempt += 1
        jitter = self.cfg.jitter
        if jitter <= 0:
            return base
        return max(0.0, base * (1.0 + self._rng.uniform(-jitter, jitter)))

    def reset(self) -> None:
        """Start again from the initial delay (after a connection that held)."""
        self.attempt = 0
