"""The playback pacer's wait, in the one loop turn where a command and a frame's deadline meet."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from core.clock import SystemClock
from webrtc.playback import Player, PlaybackPlan
from webrtc.playbackcontrol import event


def _player() -> Player:
    start = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    plan = PlaybackPlan(camera="gate", start=start, end=start + timedelta(minutes=1), viewer="ops",
                        role="operator", client=None, max_rate=8.0)
    return Player(plan, recordings=None, clock=SystemClock())  # type: ignore[arg-type]  # never read here


async def test_a_command_in_the_deadlines_turn_wins() -> None:
    """Pause lands in the same turn as the next frame's deadline: the wait must say "woken",
    or the pacer sends one more frame after Pause (seen in the browser test as the held
    position moving on by one frame)."""
    player = _player()
    loop = asyncio.get_running_loop()
    # Queued before the wait's own zero-delay deadline, so both run in the same loop turn,
    # the command first: the timer then cancels a wait that was already woken.
    loop.call_soon(player.command, '{"op": "pause"}')
    assert await player._wait_wake(0) is False
    assert player._paused


async def test_the_deadline_alone_times_out() -> None:
    assert await _player()._wait_wake(0.01) is True


async def test_a_command_alone_wakes() -> None:
    player = _player()
    asyncio.get_running_loop().call_later(0.01, player.command, '{"op": "play"}')
    assert await player._wait_wake(5) is False


async def test_a_tokens_view_ends_when_its_time_is_used_up() -> None:
    """Seeking back cannot stretch one view of a token without end: the session ends after
    max_view_s of wall time, paused or not."""
    start = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    plan = PlaybackPlan(camera="gate", start=start, end=start + timedelta(seconds=2), viewer="Polres",
                        role=None, client=None, max_rate=1.0, token_id="t1", max_view_s=1.5)
    player = Player(plan, recordings=None, clock=SystemClock())  # type: ignore[arg-type]  # never read here
    player.command('{"op": "pause"}')
    ended: list[str] = []
    loop = asyncio.get_running_loop()
    began = loop.time()
    await asyncio.wait_for(player._watch(ended.append), 5)
    assert len(ended) == 1 and ended[0].startswith("the view's time is used up")
    assert 1.5 <= loop.time() - began < 3.5
    unbounded = Player(PlaybackPlan(camera="gate", start=start, end=start + timedelta(seconds=2), viewer="ops",
                                    role="operator", client=None, max_rate=1.0), recordings=None,  # type: ignore[arg-type]
                       clock=SystemClock())
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(unbounded._watch(ended.append), 2.5)


class _Channel:
    """The viewer's control channel as the player sees it."""

    label = "control"
    readyState = "open"

    def __init__(self) -> None:
        self.sent: list[dict[str, object]] = []

    def on(self, _name: str) -> object:
        return lambda handler: handler

    def send(self, message: str) -> None:
        self.sent.append(json.loads(message))


def test_what_was_said_before_the_control_channel_opened_is_said_when_it_does() -> None:
    """The picture can start before the viewer's data channel opens (a slow machine): a gap or
    the end passed meanwhile must still reach the viewer, and a stale position must not."""
    player = _player()
    player._send(event("gap", start="a", end="b", reason="camera offline"))
    player._report_position()
    player._send(event("end", at="b"))
    channel = _Channel()
    player.attach(channel)  # type: ignore[arg-type]
    assert [m["event"] for m in channel.sent] == ["gap", "end", "position"]
    player._send(event("error", detail="x"))
    assert channel.sent[-1] == {"event": "error", "detail": "x"}
    assert len(player._unsent) == 0
