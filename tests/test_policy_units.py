"""Pure logic of sign-in: password hashing and throttling (visibility: tests/policy/test_decision.py)."""

from __future__ import annotations

import pytest

from core.clock import ManualClock
from policy.identity.passwords import hash_password, verify_password
from policy.identity.throttle import LoginThrottle


def test_password_round_trip_and_salting() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second  # salted
    assert "correct horse" not in first
    assert verify_password("correct horse", first)
    assert not verify_password("correct hors", first)


@pytest.mark.parametrize("stored", ["", "plain", "scrypt$1$2$3$x$y", "bcrypt$a$b$c$d$e", "scrypt$a$b$c$d$e"])
def test_malformed_hash_never_verifies(stored: str) -> None:
    assert not verify_password("x", stored)


def test_throttle_locks_pair_after_max_failures_then_releases() -> None:
    clock = ManualClock()
    throttle = LoginThrottle(clock, max_failures=3, window_s=60, lockout_s=300)
    for _ in range(2):
        throttle.failed("alice", "10.0.0.1")
        assert throttle.retry_after("alice", "10.0.0.1") == 0
    throttle.failed("Alice", "10.0.0.1")  # names are case-insensitive
    assert throttle.retry_after("alice", "10.0.0.1") == pytest.approx(300)
    assert throttle.retry_after("alice", "10.0.0.2") == 0  # other address unaffected
    assert throttle.retry_after("bob", "10.0.0.1") == 0  # other user unaffected
    clock.advance(301)
    assert throttle.retry_after("alice", "10.0.0.1") == 0


def test_throttle_window_slides() -> None:
    clock = ManualClock()
    throttle = LoginThrottle(clock, max_failures=3, window_s=60, lockout_s=300)
    for _ in range(5):
        throttle.failed("alice", "a")
        clock.advance(31)  # never three inside one window
    assert throttle.retry_after("alice", "a") == 0


def test_success_clears_failures() -> None:
    clock = ManualClock()
    throttle = LoginThrottle(clock, max_failures=2, window_s=60, lockout_s=300)
    throttle.failed("alice", "a")
    throttle.succeeded("alice", "a")
    throttle.failed("alice", "a")
    assert throttle.retry_after("alice", "a") == 0


def test_throttle_memory_is_bounded() -> None:
    clock = ManualClock()
    throttle = LoginThrottle(clock, max_failures=5, window_s=60, lockout_s=300)
    throttle.MAX_KEYS = 1000  # type: ignore[misc]
    for i in range(5000):
        throttle.failed(f"user{i}", "a")
    assert len(throttle._records) <= 1000
