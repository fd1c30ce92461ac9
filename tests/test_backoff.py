"""Backoff: capped exponential growth, bounded jitter, reset."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.config import BackoffConfig
from core.backoff import Backoff

configs = st.builds(
    BackoffConfig,
    initial_s=st.floats(0.01, 60),
    max_s=st.floats(0.01, 3600),
    multiplier=st.floats(1, 10),
    jitter=st.floats(0, 1),
)


@pytest.mark.parametrize(
    ("initial", "maximum", "multiplier", "expected"),
    [
        (1.0, 30.0, 2.0, [1, 2, 4, 8, 16, 30, 30]),
        (0.5, 2.0, 3.0, [0.5, 1.5, 2, 2]),
        (5.0, 5.0, 2.0, [5, 5, 5]),
        (10.0, 3.0, 2.0, [3, 3]),  # initial above the cap is capped too
        (1.0, 10.0, 1.0, [1, 1, 1]),
    ],
)
def test_delays_without_jitter(
    initial: float, maximum: float, multiplier: float, expected: list[float]
) -> None:
    backoff = Backoff(BackoffConfig(initial_s=initial, max_s=maximum, multiplier=multiplier, jitter=0))
    assert [backoff.next_delay() for _ in expected] == pytest.approx(expected)
    assert backoff.attempt == len(expected)


def test_reset_starts_over() -> None:
    backoff = Backoff(BackoffConfig(initial_s=1, max_s=30, multiplier=2, jitter=0))
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert backoff.attempt == 0
    assert backoff.next_delay() == 1


@given(cfg=configs, seed=st.integers(0, 2**32), attempts=st.integers(1, 60))
def test_delay_never_exceeds_cap_with_jitter(cfg: BackoffConfig, seed: int, attempts: int) -> None:
    backoff = Backoff(cfg, random.Random(seed))
    for _ in range(attempts):
        delay = backoff.next_delay()
        assert 0 <= delay <= cfg.max_s * (1 + cfg.jitter) + 1e-9


@given(cfg=configs, seed=st.integers(0, 2**32))
def test_jitter_stays_within_fraction_of_base(cfg: BackoffConfig, seed: int) -> None:
    backoff = Backoff(cfg, random.Random(seed))
    for attempt in range(20):
        base = backoff.base_delay(attempt)
        delay = backoff.next_delay()
        assert base * (1 - cfg.jitter) - 1e-9 <= delay <= base * (1 + cfg.jitter) + 1e-9


@given(cfg=configs)
def test_base_delay_grows_monotonically_to_the_cap(cfg: BackoffConfig) -> None:
    backoff = Backoff(cfg)
    bases = [backoff.base_delay(n) for n in range(80)]
    assert all(a <= b for a, b in zip(bases, bases[1:], strict=False))
    assert bases[0] == min(cfg.initial_s, cfg.max_s)
    if cfg.multiplier >= 1.5:  # 1.5**80 covers any initial-to-max ratio the config allows
        assert bases[-1] == pytest.approx(cfg.max_s)
