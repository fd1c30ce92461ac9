"""A cancellation that arrives as the awaited thing completes is delivered (core/waiting.py), so a
long-lived loop with a deadline stops when the gateway stops. Python 3.11's asyncio.wait_for would
swallow it; the access log's checkpointer then kept a stopped gateway running for ever."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from core.waiting import finish, uncancellable, within


async def _loop(wait: Callable[[asyncio.Event], Awaitable[object]], event: asyncio.Event, rounds: list[int]) -> None:
    while True:  # as the checkpointer, the recorder's retention loop, the lease keeper
        await wait(event)
        event.clear()
        rounds.append(1)


async def _cancel_as_it_completes(wait: Callable[[asyncio.Event], Awaitable[object]]) -> bool:
    """Whether the loop stopped after one cancel sent in the same iteration as its event was set."""
    event, rounds = asyncio.Event(), list[int]()
    task = asyncio.create_task(_loop(wait, event, rounds))
    await asyncio.sleep(0.01)  # it waits on the event
    event.set()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=0.5)
    if not done:
        task.cancel()  # a second cancel ends what the first did not
        with pytest.raises(asyncio.CancelledError):
            await task
    return bool(done)


async def test_within_delivers_a_cancellation_that_arrives_as_the_wait_completes() -> None:
    assert await _cancel_as_it_completes(lambda e: within(e.wait(), 60))


async def test_the_race_is_real_with_wait_for_on_this_python() -> None:
    """The test above would pass vacuously if the race could not happen: show that it does with
    asyncio.wait_for (Python 3.11), or that this Python fixed it (3.12+)."""
    import sys

    stopped = await _cancel_as_it_completes(lambda e: asyncio.wait_for(e.wait(), 60))
    assert stopped is (sys.version_info >= (3, 12))


async def test_within_returns_the_result_or_none_on_timeout() -> None:
    async def answer() -> int:
        return 42

    assert await within(answer(), 1) == 42
    assert await within(asyncio.Event().wait(), 0.01) is None


def test_no_wait_for_in_the_gateways_code() -> None:
    """Deadlines go through core/waiting.py (see its docstring); asyncio.wait_for stays only where a
    swallowed cancellation ends nothing: closing an ONVIF client on the way out."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    allowed = {"onvif_adapters/client.py"}
    found = sorted(
        str(path.relative_to(root)) for path in root.glob("*/**/*.py")
        if path.parts[len(root.parts)] not in ("tests", "bench", ".venv") and "asyncio.wait_for(" in path.read_text()
    )
    assert [f for f in found if f not in allowed] == [], found


async def test_finish_lets_the_write_in_flight_end_and_then_stops() -> None:
    done, after = [], []

    async def write() -> int:
        await asyncio.sleep(0.05)
        done.append(1)
        return 7

    async def loop() -> None:
        while True:
            got = await finish(write())
            after.append(got)  # the bookkeeping after the write still runs ...
            await asyncio.sleep(10)  # ... and the stop takes effect at the next await

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert done == [1] and after == [7]


async def test_finish_inside_a_deadline_still_ends_in_the_deadlines_timeout() -> None:
    async def write() -> str:
        await asyncio.sleep(0.1)
        return "stored"

    results: list[str] = []
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.02):
            results.append(await finish(write()))
            await asyncio.sleep(10)
    assert results == ["stored"]
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # nothing left asked of this task


async def test_uncancellable_finishes_through_repeated_stops_then_stops() -> None:
    done: list[int] = []

    async def release() -> None:
        await asyncio.sleep(0.05)
        done.append(1)

    async def stopping() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            await uncancellable(release())  # a stop's own work: a second stop does not cut it short

    task = asyncio.create_task(stopping())
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert done == [1]


async def test_finish_keeps_the_stop_when_the_write_fails() -> None:
    """A write that fails after the stop came: its error reaches the caller, who may retry after a
    pause (as the alert bus does), and the stop still takes effect there."""
    attempts: list[int] = []

    async def failing_write() -> None:
        await asyncio.sleep(0.05)
        attempts.append(1)
        raise OSError("database gone")

    async def loop() -> None:
        while True:
            try:
                await finish(failing_write())
            except OSError:
                await asyncio.sleep(10)  # the retry pause: the stop must end it

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.01)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    assert done and task.cancelled() and attempts == [1]
