"""Synchronized replay: playback sessions of one viewer that share ONE clock (`?group=` on the POST).

Each member reads its own camera's window, but every member's frames are due by the group's clock
(an anchor of loop time against recorded time, a rate, paused or not) instead of by its own. A
command on any member's control channel applies to the whole group, or (refused) to none of it.
Members start at different keyframes (cameras' GOPs differ): a member whose keyframe lies after
the clock waits for it. The group stays in step with its slowest member: a member over HOLD_S
behind the clock (slow to read or to send, on a busy machine) moves the clock back to itself, and
no member runs over HOLD_S ahead of one that is still on its way (not waiting for a later frame).
A member that sent nothing for STALL_S (a frozen tile, a viewer still connecting) holds no one
back; when it comes back it sends its overdue frames at once to catch up.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Protocol

from core.errors import BadRequest, Conflict
from webrtc.playbackcontrol import Command, ControlError, Pause, Play, Seek, Speed
from webrtc.playbackfeed import iso

log = logging.getLogger(__name__)

#: A client-chosen group id: 8-64 URL-safe characters (the page uses 128 random bits).
GROUP_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
# After a seek the clock starts this much later, so every member's read of the new place is under
# way (a segment's hash check and demux take ~0.1 s) and no member starts behind the others.
SEEK_DELAY_S = 0.3
# When every member waits longer than this for its next frame (a gap all cameras share, e.g. the
# gateway was down), the clock jumps to the first of those frames, as a single playback skips gaps.
SKIP_S = 1.0
MIN_RATE = 0.5
# Recorded seconds a member may be behind the clock, or ahead of another member on its way,
# before the group waits for it (the tiles' spread stays under this plus a frame).
HOLD_S = 0.1
# Loop seconds without a frame after which a member no longer holds the others back.
STALL_S = 2.0


def loop_time() -> float:
    """The running loop's clock: the one players pace by (`loop.time()`)."""
    return asyncio.get_running_loop().time()


class GroupClock:
    """Recorded time against loop time: `anchor` (loop time, recorded time) while it runs; None
    while paused or before anyone asked for a frame. `now` is the caller's loop time."""

    def __init__(self, position: float, rate: float) -> None:
        self.rate = rate
        self.paused = False
        self.anchor: tuple[float, float] | None = None
        self._position = position  # the recorded time while not anchored

    def position(self, now: float) -> float:
        """The recorded time the group is at (before a delayed start: where it will start)."""
        if self.anchor is None:
            return self._position
        started, at = self.anchor
        return at + max(0.0, now - started) * self.rate

    def due(self, at: float, now: float) -> float | None:
        """The loop time recorded moment `at` is due; None while paused. The first question after
        a start or a play anchors the clock at `now` (at `at`, when that lies ahead of it)."""
        if self.paused:
            return None
        if self.anchor is None:
            self.anchor = (now, max(at, self._position))
        started, anchored = self.anchor
        return started + (at - anchored) / self.rate

    def pause(self, now: float) -> None:
        """Stop where the clock is."""
        self._position = self.position(now)
        self.anchor = None
        self.paused = True

    def play(self) -> None:
        """Run on from where it stopped (anchored by the next frame asked for)."""
        self.paused = False

    def set_rate(self, rate: float, now: float) -> None:
        """Change speed from now on (a start still ahead keeps its moment)."""
        if self.anchor is not None and now >= self.anchor[0]:
            self.anchor = (now, self.position(now))
        self.rate = rate

    def jump(self, to: float, now: float) -> None:
        """Run on from `to` at once (a span no member has a frame in is skipped)."""
        self._position = to
        self.anchor = (now, to)

    def seek(self, to: float, now: float) -> None:
        """Jump to `to`; running, the clock starts there SEEK_DELAY_S from now."""
        self._position = to
        self.anchor = None if self.paused else (now + SEEK_DELAY_S, to)


class Member(Protocol):
    """What the group asks of a member's player (webrtc.playback.Player)."""

    @property
    def window(self) -> tuple[datetime, datetime]: ...

    @property
    def top_rate(self) -> float: ...

    @property
    def played_out(self) -> bool: ...

    @property
    def position(self) -> float: ...

    def wake(self) -> None:
        """Look at the group's clock again now."""
        ...

    def follow(self, command: Command) -> None:
        """Apply a command the group accepted (the clock has already moved) and report position."""
        ...


class PlaybackGroup:
    """Players of one principal paced by one GroupClock; commands go to all of them."""

    def __init__(self, group_id: str, principal: str, clock: GroupClock, now: Callable[[], float]) -> None:
        self.id = group_id
        self.principal = principal
        self.clock = clock
        self.members: list[Member] = []
        self._now = now
        self._waiting: dict[Member, float] = {}  # member -> the recorded moment it waits for
        # member -> loop time it last sent a frame (or a command moved everyone); a member that
        # never sent one (still connecting) is absent: it holds no one back.
        self._progress: dict[Member, float] = {}
        self._held: set[Member] = set()  # members waiting for a slower one (woken as frames go)

    def command(self, command: Command) -> None:
        """Apply a command to every member; ControlError, with nothing changed, when any refuses."""
        now = self._now()
        if isinstance(command, Speed):
            top = min(m.top_rate for m in self.members)
            low = min(MIN_RATE, top)
            if not low <= command.rate <= top:
                raise ControlError(f"rate must be {low:g}-{top:g} (the group's lowest allowed rate)")
            self.clock.set_rate(command.rate, now)
        elif isinstance(command, Seek):
            for member in self.members:
                start, end = member.window
                if not start <= command.to < end:
                    raise ControlError(f"seek within every member's authorized window: one is "
                                       f"[{iso(start.timestamp())}, {iso(end.timestamp())})")
            self.clock.seek(command.to.timestamp(), now)
        elif isinstance(command, Pause):
            self.clock.pause(now)
        elif isinstance(command, Play):
            self.clock.play()
        for member in self._progress:
            self._progress[member] = now  # a pause or a new place is no stall
        for member in list(self.members):
            member.follow(command)

    def wait(self, member: Member, at: float, now: float) -> bool:
        """`member` is about to wait for recorded moment `at`. When every member still playing
        waits, the next of their frames over SKIP_S away, the clock jumps to it and wakes them
        all: True (look at the clock again)."""
        self._waiting[member] = at
        playing = [m for m in self.members if not m.played_out]
        if not playing or any(m not in self._waiting for m in playing):
            return False
        earliest = min(self._waiting[m] for m in playing)
        due = self.clock.due(earliest, now)
        if due is None or due - now <= SKIP_S:
            return False
        log.info("playback group %s: no member has a frame for %.1f s; skipped", self.id[:8],
                 (due - now) * self.clock.rate)
        self.clock.jump(earliest, now)
        self._waiting.clear()
        for other in self.members:
            other.wake()
        return True

    def waited(self, member: Member) -> None:
        """`member` no longer waits (its frame went, or a command woke it)."""
        self._waiting.pop(member, None)

    def _active(self, member: Member, now: float) -> bool:
        sent = self._progress.get(member)
        return sent is not None and now - sent <= STALL_S

    def late(self, member: Member, at: float, now: float) -> bool:
        """`member`'s next frame is `at`, and the running clock is over HOLD_S past it: unless the
        member stalled (it catches up at once), the clock moves back to `at` and the others wait
        for it. True when the clock moved."""
        if self.clock.position(now) - at <= HOLD_S or not self._active(member, now):
            return False
        log.debug("playback group %s: a member %.2f s behind; the clock waits for it", self.id[:8],
                  self.clock.position(now) - at)
        self.clock.jump(at, now)
        for other in self.members:
            if other is not member:
                other.wake()
        return True

    def holds(self, member: Member, at: float, now: float) -> bool:
        """Whether `member` must wait before sending frame `at`: another member, still on its way
        (playing, not waiting for a later frame, sent one in the last STALL_S), is over HOLD_S
        behind it. A held member is woken when any member sends a frame."""
        for other in self.members:
            if (other is not member and not other.played_out and other not in self._waiting
                    and self._active(other, now) and other.position < at - HOLD_S):
                self._held.add(member)
                return True
        return False

    def sent(self, member: Member, now: float) -> None:
        """`member` sent a frame: it is on its way; members held back look again."""
        self._progress[member] = now
        if self._held:
            held, self._held = self._held, set()
            for other in held:
                other.wake()

    def forget(self, member: Member) -> None:
        """`member` left: it holds no one back any more."""
        self._progress.pop(member, None)
        self._held.discard(member)
        held, self._held = self._held, set()
        for other in held:
            other.wake()

    def position(self) -> float:
        """The recorded time the group's clock is at now."""
        return self.clock.position(self._now())

    def origin(self, member: Member) -> datetime:
        """Where a joining member starts reading: the clock's place, inside its window."""
        start, end = member.window
        at = self.position()
        return min(max(start, datetime.fromtimestamp(at, start.tzinfo)), end)


class PlaybackGroups:
    """The open groups by id; a group ends with its last member."""

    def __init__(self, now: Callable[[], float] = loop_time) -> None:
        self._groups: dict[str, PlaybackGroup] = {}
        self._now = now

    def check(self, group_id: str, principal: str) -> None:
        """BadRequest for a malformed id, Conflict for another principal's group (before any work)."""
        if not GROUP_ID.fullmatch(group_id):
            raise BadRequest("group must be 8-64 characters of A-Z, a-z, 0-9, - and _")
        group = self._groups.get(group_id)
        if group is not None and group.principal != principal:
            raise Conflict("that playback group belongs to another viewer; choose another group id")

    def join(self, group_id: str, principal: str, member: Member) -> PlaybackGroup:
        """Add `member` to the group, made if new (at 1x, or the member's top rate below it);
        Conflict when the group is another principal's or plays faster than the member may."""
        self.check(group_id, principal)
        group = self._groups.get(group_id)
        if group is None:
            start = member.window[0].timestamp()
            group = self._groups[group_id] = PlaybackGroup(group_id, principal, GroupClock(start, min(1.0, member.top_rate)),
                                                           self._now)
        elif group.clock.rate > member.top_rate:
            if not group.members:
                del self._groups[group_id]
            raise Conflict(f"the group plays at {group.clock.rate:g}x, above this playback's "
                           f"{member.top_rate:g}x; slow the group down first")
        group.members.append(member)
        return group

    def leave(self, group: PlaybackGroup, member: Member) -> None:
        """Remove `member`; the group goes with its last one."""
        if member in group.members:
            group.members.remove(member)
        group.waited(member)
        group.forget(member)
        if not group.members and self._groups.get(group.id) is group:
            del self._groups[group.id]
            log.info("playback group %s ended", group.id[:8])

    def get(self, group_id: str) -> PlaybackGroup | None:
        """An open group, or None."""
        return self._groups.get(group_id)

    def __len__(self) -> int:
        return len(self._groups)

    def __iter__(self) -> Iterator[PlaybackGroup]:
        return iter(list(self._groups.values()))
