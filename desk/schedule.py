"""Shift slots from the configured pattern and the patrol intervals that were missed: pure time
arithmetic, no I/O, so both are tested without a clock."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from core.deskconfig import ShiftSlot


@dataclass(frozen=True, slots=True)
class PlannedShift:
    """One occurrence of a slot of the pattern, in UTC."""

    name: str
    start: datetime
    end: datetime


def planned_shift(slots: Sequence[ShiftSlot], zone: ZoneInfo, early: timedelta, now: datetime) -> PlannedShift | None:
    """The shift an operator signing on at `now` takes: of the occurrences whose window
    [start - early, end) holds `now`, the one that starts last (arriving early for the next
    shift takes the next one, not the one ending). None: `now` is in no shift (ad hoc)."""
    local_day = now.astimezone(zone).date()
    best: PlannedShift | None = None
    for offset in (-1, 0, 1):
        day = local_day + timedelta(days=offset)
        for slot in slots:
            start = _local(day, slot, zone)
            end = start + timedelta(hours=slot.hours)
            if start - early <= now < end and (best is None or start > best.start):
                best = PlannedShift(slot.name, start, end)
    return best


def _local(day: date, slot: ShiftSlot, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, slot.start, tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Missed:
    """A stretch of an open shift in which a patrol was due and none was done."""

    start: datetime  # when the patrol became due
    end: datetime  # when the next one was done, or the end of the period


def missed_patrols(
    period_start: datetime, period_end: datetime, patrols: Sequence[tuple[datetime, datetime]], interval: timedelta
) -> list[Missed]:
    """The intervals in [period_start, period_end] where `interval` passed without a patrol.
    `patrols` are (started, ended); a patrol counts from its start (it answers the due one)."""
    missed: list[Missed] = []
    last = period_start
    for started, ended in sorted(patrols):
        if started - last > interval:
            missed.append(Missed(last + interval, started))
        last = max(last, ended)
    if period_end - last > interval:
        missed.append(Missed(last + interval, period_end))
    return missed
