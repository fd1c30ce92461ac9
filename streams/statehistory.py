"""A camera's state history (table camera_state_changes) read back as runs: how long it was offline,
degraded or disabled. The shift handover (desk/prefill.py) and the replay desk's timeline
(fleet/review.py) read the same runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.utctime import format_utc_or_none as _iso
from streams.models import CameraStateChange

#: States in which a camera delivers no video: a run of them is one outage.
DOWN = frozenset({"offline", "connecting"})
#: One change: (at, state, reason, comma-separated problems).
Change = tuple[datetime, str, str, str]


@dataclass(slots=True)
class StateRun:
    """A run of one not-online state ("offline" for offline and connecting together); `end` None: ongoing."""

    state: str
    start: datetime
    end: datetime | None
    reason: str
    problems: list[str] = field(default_factory=list)


def seconds_between(start: datetime, end: datetime | None, until: datetime) -> float:
    """Length of a run in seconds (to `until` when it is still going), to a tenth."""
    return round(((end or until) - start).total_seconds(), 1)


def state_runs(changes: Sequence[Change], start: datetime) -> list[StateRun]:
    """Runs of not-online states from `start` on, from changes sorted by time, the last one before
    `start` included (the state the period began in). Offline and connecting make one outage;
    degraded runs are listed each with its problems; disabled as such."""
    runs: list[StateRun] = []
    current: tuple[str, StateRun] | None = None
    for at, state, reason, problems in changes:
        at = max(at, start)
        kind = "down" if state in DOWN else state
        if current is not None and current[0] == kind and kind != "degraded":
            continue  # offline -> connecting -> offline: still the same outage
        if current is not None:
            current[1].end = at
            runs.append(current[1])
            current = None
        if state != "online":
            current = (kind, StateRun("offline" if kind == "down" else state, at, None, reason,
                                      [p for p in problems.split(",") if p]))
    if current is not None:
        runs.append(current[1])
    return [r for r in runs if r.end is None or r.end > r.start]


def outages(changes: Sequence[Change], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The runs of `state_runs` within [start, end] as the handover prints them."""
    return [
        {"state": r.state, "start": _iso(r.start), "end": _iso(r.end), "ongoing": r.end is None,
         "seconds": seconds_between(r.start, r.end, end), "reason": r.reason, "problems": r.problems}
        for r in state_runs(changes, start)
    ]


async def state_changes(session: AsyncSession, camera: str, start: datetime, end: datetime) -> list[Change]:
    """The camera's changes within [start, end], after the last one before `start`, oldest first."""
    t = CameraStateChange
    before = (await session.execute(
        select(t.at, t.state, t.reason, t.problems).where(t.camera_id == camera, t.at < start)
        .order_by(t.at.desc(), t.id.desc()).limit(1)
    )).all()
    during = (await session.execute(
        select(t.at, t.state, t.reason, t.problems).where(t.camera_id == camera, t.at >= start, t.at <= end)
        .order_by(t.at, t.id)
    )).all()
    return [(r[0], r[1], r[2], r[3]) for r in [*before, *during]]
