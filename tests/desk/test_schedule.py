"""The desk's pure time arithmetic: which slot a sign-on takes, which patrols were missed, and the
outages a run of state changes makes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.deskconfig import DeskConfig, ShiftSlot
from desk.prefill import outages
from desk.schedule import missed_patrols, planned_shift

JAKARTA = ZoneInfo("Asia/Jakarta")  # UTC+7, no daylight saving
SLOTS = DeskConfig().shifts  # Pagi 07:00, Siang 15:00, Malam 23:00, 8 h each
EARLY = timedelta(minutes=30)


def wib(day: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2026, 12, day, hh, mm, tzinfo=JAKARTA).astimezone(UTC)


@pytest.mark.parametrize(
    ("now", "name", "start"),
    [
        (wib(4, 7, 0), "Pagi", wib(4, 7)),
        (wib(4, 6, 30), "Pagi", wib(4, 7)),  # 30 minutes early (SOP step 1) takes the coming shift
        (wib(4, 14, 45), "Siang", wib(4, 15)),  # early for Siang, though Pagi has not ended
        (wib(4, 14, 29), "Pagi", wib(4, 7)),
        (wib(4, 23, 59), "Malam", wib(4, 23)),
        (wib(5, 2, 0), "Malam", wib(4, 23)),  # the night shift began the day before
        (wib(5, 6, 31), "Pagi", wib(5, 7)),
    ],
)
def test_a_sign_on_takes_the_slot_it_falls_in(now: datetime, name: str, start: datetime) -> None:
    plan = planned_shift(SLOTS, JAKARTA, EARLY, now)
    assert plan is not None and (plan.name, plan.start, plan.end) == (name, start, start + timedelta(hours=8))


def test_outside_every_slot_the_shift_is_ad_hoc() -> None:
    day_only = [ShiftSlot(name="Kantor", start=time(8, 0), hours=8)]
    assert planned_shift(day_only, JAKARTA, EARLY, wib(4, 20)) is None
    assert planned_shift([], JAKARTA, EARLY, wib(4, 9)) is None


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 7 * 24 * 60))
def test_with_a_full_pattern_every_instant_has_a_slot_holding_it(minute: int) -> None:
    now = wib(1, 0) + timedelta(minutes=minute)
    plan = planned_shift(SLOTS, JAKARTA, EARLY, now)
    assert plan is not None and plan.start - EARLY <= now < plan.end


HOUR = timedelta(hours=1)
T0 = datetime(2026, 12, 4, tzinfo=UTC)


def test_missed_patrols_are_the_stretches_longer_than_the_interval() -> None:
    patrols = [(T0 + timedelta(minutes=50), T0 + timedelta(minutes=60)),
               (T0 + timedelta(hours=4), T0 + timedelta(hours=4, minutes=10))]
    missed = missed_patrols(T0, T0 + timedelta(hours=8), patrols, 2 * HOUR)
    assert [(m.start, m.end) for m in missed] == [
        (T0 + timedelta(hours=3), T0 + timedelta(hours=4)),  # due 2 h after the first ended
        (T0 + timedelta(hours=6, minutes=10), T0 + timedelta(hours=8)),
    ]
    assert missed_patrols(T0, T0 + HOUR, [], 2 * HOUR) == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 8 * 60), max_size=10), st.integers(10, 240))
def test_no_stretch_without_a_patrol_is_longer_than_the_interval_plus_what_was_missed(starts: list[int],
                                                                                      every: int) -> None:
    interval = timedelta(minutes=every)
    end = T0 + timedelta(hours=8)
    patrols = [(T0 + timedelta(minutes=m), T0 + timedelta(minutes=m + 5)) for m in starts]
    missed = missed_patrols(T0, end, patrols, interval)
    for m in missed:
        assert m.start < m.end and not any(m.start <= s < m.end for s, _ in patrols)
    # Every instant more than one interval after the last patrol (or the start) lies in a miss.
    for probe in range(0, 8 * 60, 7):
        at = T0 + timedelta(minutes=probe)
        last = max([e for _, e in patrols if e <= at] + [T0])
        running = any(s <= at < e for s, e in patrols)
        if at - last > interval and not running:
            assert any(m.start <= at <= m.end for m in missed), (at, missed)


def test_an_outage_is_one_run_of_offline_and_connecting() -> None:
    s = T0
    changes = [
        (s - HOUR, "online", "", ""),
        (s + timedelta(seconds=10), "offline", "end of stream", ""),
        (s + timedelta(seconds=11), "connecting", "retry 1", ""),
        (s + timedelta(seconds=15), "offline", "connection refused", ""),
        (s + timedelta(seconds=40), "online", "", ""),
        (s + timedelta(seconds=50), "degraded", "", "frozen,black"),
        (s + timedelta(seconds=70), "online", "", ""),
        (s + timedelta(seconds=90), "offline", "stalled", ""),
    ]
    runs = outages(changes, s, s + timedelta(seconds=100))
    assert [(r["state"], r["seconds"], r["ongoing"]) for r in runs] == [
        ("offline", 30.0, False), ("degraded", 20.0, False), ("offline", 10.0, True)]
    assert runs[0]["reason"] == "end of stream" and runs[1]["problems"] == ["frozen", "black"]


def test_a_shift_that_begins_in_an_outage_counts_it_from_its_start() -> None:
    runs = outages([(T0 - HOUR, "offline", "refused", "")], T0, T0 + timedelta(seconds=30))
    assert runs == [{"state": "offline", "start": "2026-12-04T00:00:00Z", "end": None, "ongoing": True,
                     "seconds": 30.0, "reason": "refused", "problems": []}]
