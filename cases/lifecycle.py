"""One lifecycle for every case: opened -> acknowledged -> forwarded / followed up -> resolved ->
closed. Pure: which event a case in a state may take, and the state it leaves it in."""

from __future__ import annotations

import enum

from core.errors import Conflict


class State(enum.StrEnum):
    """Where a case stands."""

    OPENED = "opened"
    ACKNOWLEDGED = "acknowledged"
    FORWARDED = "forwarded"
    FOLLOWED_UP = "followed_up"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Event(enum.StrEnum):
    """What can happen to a case (the kinds of its timeline)."""

    OPENED = "opened"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    FORWARDED = "forwarded"
    FOLLOWED_UP = "followed_up"
    STEP_DONE = "step_done"
    HOLD_PLACED = "hold_placed"
    RESOLVED = "resolved"
    CLOSED = "closed"
    AMENDED = "amended"
    TRIGGERED = "triggered"  # another trigger of the same emergency, joined to it
    SNAPSHOT = "snapshot_taken"  # a camera's picture at the moment, taken by the server


WORKING = frozenset({State.ACKNOWLEDGED, State.FORWARDED, State.FOLLOWED_UP})
OPEN = frozenset({State.OPENED, *WORKING, State.RESOLVED})

#: event -> (states it may happen in, the state after; None: the state does not change)
RULES: dict[Event, tuple[frozenset[State], State | None]] = {
    Event.ACKNOWLEDGED: (frozenset({State.OPENED}), State.ACKNOWLEDGED),
    Event.ESCALATED: (frozenset({State.OPENED}), None),
    Event.FORWARDED: (WORKING, State.FORWARDED),
    Event.FOLLOWED_UP: (WORKING, State.FOLLOWED_UP),
    Event.STEP_DONE: (frozenset({State.OPENED, *WORKING}), None),
    Event.HOLD_PLACED: (OPEN, None),
    Event.TRIGGERED: (OPEN, None),
    Event.SNAPSHOT: (OPEN, None),
    Event.RESOLVED: (WORKING, State.RESOLVED),
    Event.CLOSED: (frozenset({State.RESOLVED}), State.CLOSED),
    Event.AMENDED: (frozenset(State), None),
}

_HINT = {
    State.OPENED: "acknowledge it first",
    State.RESOLVED: "it is resolved: close it with its berita acara, or amend it",
    State.CLOSED: "it is closed: only an amendment can be added",
}


def next_state(state: State, event: Event) -> State:
    """The state after `event`; 409 (saying what can be done instead) when `state` does not allow it."""
    allowed, after = RULES[event]
    if state not in allowed:
        hint = _HINT.get(state, "")
        raise Conflict(f"a case that is {state.value} cannot be {event.value.replace('_', ' ')}"
                       + (f": {hint}" if hint else ""))
    return after if after is not None else state
