"""The synchronized replay's group clock and its rules, without sleeping: a hand-moved loop time,
real Players (their pacing fed frames directly, never a recorder)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from core.clock import SystemClock
from aiortc.mediastreams import MediaStreamError

from core.errors import BadRequest, Conflict
from webrtc.playback import PlaybackPlan, Player
from webrtc.playbackcontrol import ControlError, Pause, Play, Seek, Speed
from webrtc.playbackfeed import Frame
from webrtc import playbackgroup
from webrtc.playbackfeed import iso
from webrtc.playbackgroup import SEEK_DELAY_S, GroupClock, PlaybackGroups
from webrtc.playbacksound import SoundState

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
AT = T0.timestamp()


class Now:
    """A loop time the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def player(start_s: float = 0, end_s: float = 600, max_rate: float = 8.0, camera: str = "a") -> Player:
    plan = PlaybackPlan(camera=camera, start=T0 + timedelta(seconds=start_s), end=T0 + timedelta(seconds=end_s),
                        viewer="ops", role="operator", client=None, max_rate=max_rate)
    return Player(plan, recordings=None, clock=SystemClock())  # type: ignore[arg-type]  # never read here


def test_the_clock_anchors_on_the_first_frame_asked_and_runs_at_its_rate() -> None:
    clock = GroupClock(AT, 1.0)
    assert clock.position(5.0) == AT and clock.anchor is None
    # The first member's keyframe lies 1.2 s after the start: the clock starts there, now.
    assert clock.due(AT + 1.2, 10.0) == 10.0
    assert clock.due(AT + 0.4, 10.0) == pytest.approx(9.2)  # another member's: already due (catch up)
    assert clock.position(12.0) == pytest.approx(AT + 3.2)
    clock.set_rate(2.0, 12.0)
    assert clock.position(12.0) == pytest.approx(AT + 3.2)
    assert clock.position(13.0) == pytest.approx(AT + 5.2)
    assert clock.due(AT + 7.2, 12.0) == pytest.approx(14.0)


def test_pause_holds_the_place_and_play_goes_on_from_it() -> None:
    clock = GroupClock(AT, 1.0)
    clock.due(AT, 0.0)
    clock.pause(3.0)
    assert clock.due(AT + 5, 4.0) is None and clock.position(100.0) == pytest.approx(AT + 3)
    clock.play()
    assert clock.due(AT + 3.5, 50.0) == pytest.approx(50.0)  # anchored where it stopped, or at that frame
    assert clock.position(51.0) == pytest.approx(AT + 4.5)


def test_a_seek_starts_the_clock_a_fixed_delay_later() -> None:
    clock = GroupClock(AT, 2.0)
    clock.due(AT, 0.0)
    clock.seek(AT + 100, 10.0)
    assert clock.anchor == (10.0 + SEEK_DELAY_S, AT + 100)
    assert clock.position(10.1) == AT + 100  # not yet started
    assert clock.due(AT + 101, 10.0) == pytest.approx(10.0 + SEEK_DELAY_S + 0.5)
    clock.set_rate(1.0, 10.1)  # a speed change before the start keeps the start
    assert clock.anchor == (10.0 + SEEK_DELAY_S, AT + 100)
    clock.pause(10.2)
    clock.seek(AT + 50, 11.0)  # paused: stays paused at the target
    assert clock.paused and clock.anchor is None and clock.position(20.0) == AT + 50


def test_commands_apply_to_every_member_or_to_none() -> None:
    now = Now()
    groups = PlaybackGroups(now)
    fast, slow = player(max_rate=8.0), player(start_s=10, end_s=100, max_rate=2.0, camera="b")
    group = groups.join("g-12345678", "ops", fast)
    fast.join(group)
    assert groups.join("g-12345678", "ops", slow) is group
    slow.join(group)
    assert len(groups) == 1 and group.members == [fast, slow]

    group.command(Speed(2.0))
    assert group.clock.rate == 2.0 and [m._rate for m in (fast, slow)] == [2.0, 2.0]
    # Above the slowest member's max rate: refused, nothing changed.
    with pytest.raises(ControlError, match="0.5-2"):
        group.command(Speed(4.0))
    assert group.clock.rate == 2.0 and [m._rate for m in (fast, slow)] == [2.0, 2.0]

    # Inside fast's window, outside slow's: refused, nothing changed (no member re-reads).
    seeks = (fast.sent.seeks, slow.sent.seeks, fast.epoch, slow.epoch)
    place = group.clock.position(now())
    with pytest.raises(ControlError, match="every member's authorized window"):
        group.command(Seek(T0 + timedelta(seconds=200)))
    with pytest.raises(ControlError):
        group.command(Seek(T0 + timedelta(seconds=5)))  # before slow's start
    assert (fast.sent.seeks, slow.sent.seeks, fast.epoch, slow.epoch) == seeks
    assert group.clock.position(now()) == place

    target = T0 + timedelta(seconds=50)
    group.command(Seek(target))
    assert [m.position for m in (fast, slow)] == [target.timestamp()] * 2
    assert [m.epoch for m in (fast, slow)] == [seeks[2] + 1, seeks[3] + 1]
    assert group.clock.anchor == (now.t + SEEK_DELAY_S, target.timestamp())

    group.command(Pause())
    assert fast._paused and slow._paused and group.clock.paused
    group.command(Play())
    assert not fast._paused and not slow._paused and not group.clock.paused


def test_a_group_never_mixes_principals_and_goes_with_its_last_member() -> None:
    now = Now()
    groups = PlaybackGroups(now)
    mine, other = player(), player(camera="b")
    group = groups.join("shared-id", "ops", mine)
    with pytest.raises(Conflict, match="another viewer"):
        groups.check("shared-id", "someone-else")
    with pytest.raises(Conflict):
        groups.join("shared-id", "token:abc", other)
    assert group.members == [mine]
    for bad in ("short", "x" * 65, "has space!", ""):
        with pytest.raises(BadRequest):
            groups.check(bad, "ops")
    groups.leave(group, mine)
    assert len(groups) == 0 and groups.get("shared-id") is None
    # The id is free again, for anyone.
    assert groups.join("shared-id", "token:abc", other).principal == "token:abc"


def test_a_member_cannot_join_a_group_faster_than_it_may_play() -> None:
    now = Now()
    groups = PlaybackGroups(now)
    fast = player()
    group = groups.join("g-12345678", "ops", fast)
    fast.join(group)
    group.command(Speed(4.0))
    with pytest.raises(Conflict, match="4x"):
        groups.join("g-12345678", "ops", player(max_rate=1.0, camera="b"))
    assert group.members == [fast]
    # A member leaving leaves the others as they were.
    other = player(camera="c")
    groups.join("g-12345678", "ops", other)
    other.join(group)
    groups.leave(group, fast)
    assert group.members == [other] and groups.get("g-12345678") is group and group.clock.rate == 4.0


def test_a_joining_member_starts_where_the_clock_is_inside_its_window() -> None:
    now = Now()
    groups = PlaybackGroups(now)
    first = player()
    group = groups.join("g-12345678", "ops", first)
    first.join(group)
    group.clock.due(AT, now.t)
    now.t += 30
    late = player(camera="b")
    groups.join("g-12345678", "ops", late)
    late.join(group)
    assert late._origin == T0 + timedelta(seconds=30)
    after = player(start_s=100, camera="c")  # its window starts after the clock: it waits there
    groups.join("g-12345678", "ops", after)
    after.join(group)
    assert after._origin == T0 + timedelta(seconds=100)


async def test_members_are_paced_by_the_group_clock_not_their_own_first_frame() -> None:
    """Two members whose keyframes differ: each frame goes out when the shared clock reaches it,
    a frame the clock has passed goes at once, and sound waits for the clock."""
    groups = PlaybackGroups()
    a, b = player(), player(camera="b")
    group = groups.join("g-12345678", "ops", a)
    a.join(group)
    groups.join("g-12345678", "ops", b)
    b.join(group)
    loop = asyncio.get_running_loop()
    assert a.sound_state() is SoundState.HOLD  # nothing anchored yet
    await a._queue.put((a.epoch, Frame(b"\0\0\0\1e", AT + 0.10, True)))
    await b._queue.put((b.epoch, Frame(b"\0\0\0\1e", AT + 0.30, True)))
    await b._queue.put((b.epoch, Frame(b"\0\0\0\1a", AT + 0.34, False)))
    began = loop.time()
    await a.next_packet()  # anchors the clock at AT + 0.10, now
    await a._queue.put((a.epoch, Frame(b"\0\0\0\1a", AT + 0.60, False)))
    a_next = asyncio.create_task(a.next_packet())  # a waits for its next frame (it holds no one)
    first = await b.next_packet()
    waited = loop.time() - began
    assert 0.15 <= waited < 0.6, waited  # b's keyframe waited 0.2 s for the clock
    assert a.sound_state() is SoundState.PLAY and a.due_at(AT + 0.10) == pytest.approx(began, abs=0.05)
    await asyncio.sleep(0.2)  # b's next frame is now 0.16 s overdue (over HOLD_S): out at once,
    started = loop.time()     # and the clock moves back to it, so a waits for b
    second = await b.next_packet()
    assert loop.time() - started < 0.05
    assert group.clock.position(loop.time()) == pytest.approx(AT + 0.34, abs=0.03)
    assert second.pts is not None and first.pts is not None and second.pts > first.pts
    await b._queue.put((b.epoch, Frame(b"\0\0\0\1a", AT + 0.38, False)))
    await asyncio.sleep(0.07)  # 0.03 s overdue, under HOLD_S: out at once, the clock not moved
    moved = group.clock.anchor
    await b.next_packet()
    assert group.clock.anchor == moved
    assert not a_next.done()  # a's frame waits for the clock, now later by b's 0.16 s
    a_next.cancel()
    group.command(Speed(2.0))
    assert a.sound_state() is SoundState.DROP


async def test_a_gap_every_member_shares_is_skipped_one_members_is_not() -> None:
    """The clock jumps only when every member waits over SKIP_S (a gap they all share): a member
    whose next frame lies beyond its own gap waits while the others play."""
    groups = PlaybackGroups()
    a, b = player(), player(camera="b")
    group = groups.join("g-12345678", "ops", a)
    a.join(group)
    groups.join("g-12345678", "ops", b)
    b.join(group)
    loop = asyncio.get_running_loop()
    await a._queue.put((a.epoch, Frame(b"\0\0\0\1e", AT, True)))
    await b._queue.put((b.epoch, Frame(b"\0\0\0\1e", AT, True)))
    await a.next_packet()
    await b.next_packet()
    # a's camera was down for 20 s; b's was not: a waits for the clock, b plays on.
    await a._queue.put((a.epoch, Frame(b"\0\0\0\1e", AT + 20, True)))
    waiting = asyncio.create_task(a.next_packet())
    await asyncio.sleep(0.05)
    await b._queue.put((b.epoch, Frame(b"\0\0\0\1a", AT + 0.1, False)))
    await b.next_packet()
    assert not waiting.done() and group.clock.position(loop.time()) < AT + 1
    # Now b's recording stops too until 30 s: every member waits, so the clock jumps to a's frame.
    await b._queue.put((b.epoch, Frame(b"\0\0\0\1e", AT + 30, True)))
    began = loop.time()
    b_waiting = asyncio.create_task(b.next_packet())
    await asyncio.wait_for(waiting, 2)
    assert loop.time() - began < 0.5
    assert group.clock.position(loop.time()) == pytest.approx(AT + 20, abs=0.3)
    assert not b_waiting.done()  # b's frame is 10 s on, over SKIP_S, but a still plays (its next frame is not read yet)
    b.stop()
    with pytest.raises(MediaStreamError):
        await b_waiting


async def test_no_member_runs_ahead_of_one_still_on_its_way_unless_that_one_stalled(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A member whose frames are due waits while another member that is still playing (not waiting
    for a later frame) is over HOLD_S behind; it goes on as that one sends, or once it stalled."""
    monkeypatch.setattr(playbackgroup, "STALL_S", 0.4)
    groups = PlaybackGroups()
    a, b = player(), player(camera="b")
    group = groups.join("g-12345678", "ops", a)
    a.join(group)
    groups.join("g-12345678", "ops", b)
    b.join(group)
    reports: list[dict[str, object]] = []
    a._send = lambda message, stale_later=False: reports.append(json.loads(message))  # type: ignore[method-assign]
    for p in (a, b):
        await p._queue.put((p.epoch, Frame(b"\0\0\0\1e", AT, True)))
        await p.next_packet()
    # b's reader is slow: nothing queued. a has 0.5 s of frames that fall due.
    for i in range(1, 13):
        await a._queue.put((a.epoch, Frame(b"\0\0\0\1a", AT + 0.04 * i, False)))
    sending = asyncio.create_task(_drain(a, 12))
    await asyncio.sleep(0.3)
    assert a.position <= AT + playbackgroup.HOLD_S + 0.04 + 1e-9  # held where b is, plus HOLD_S
    assert reports[-1]["held"] is True and reports[-1]["at"] == iso(a.position)
    await b._queue.put((b.epoch, Frame(b"\0\0\0\1a", AT + 0.30, False)))
    await b.next_packet()  # b moves on (late: the clock moves back to it) and a follows
    await asyncio.sleep(0.05)
    assert a.position >= AT + 0.3
    # b stalls for good: a is held at most STALL_S, then plays on alone.
    began = asyncio.get_running_loop().time()
    await asyncio.wait_for(sending, 3)
    assert asyncio.get_running_loop().time() - began < 0.4 + 0.5
    assert a.position == pytest.approx(AT + 0.48) and reports[-1]["held"] is False


async def _drain(player: Player, n: int) -> None:
    for _ in range(n):
        await player.next_packet()
