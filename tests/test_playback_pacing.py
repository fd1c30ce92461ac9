"""The playback pacer's wait, in the one loop turn where a command and a frame's deadline meet."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from core.clock import SystemClock
from webrtc.playback import Player, PlaybackPlan


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
