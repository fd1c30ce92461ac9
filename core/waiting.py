"""Waiting with a deadline without losing a cancellation.

Python 3.11's `asyncio.wait_for` swallows a cancellation that arrives in the same loop iteration
as the awaited thing completes (it returns the result instead; CPython gh-86296, fixed in 3.12). A
long-lived loop (`while True: await wait_for(event.wait(), t)`) then never ends: the gateway's
stop cancels it once and waits for ever. Seen when stopping right after a burst of access-log
appends: the access log's checkpointer kept the whole process up. `asyncio.timeout` delivers the
cancellation; every deadline in a task that must stop goes through here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(awaitable: Awaitable[T], timeout_s: float) -> T | None:
    """The result of `awaitable`, or None when `timeout_s` passed first (it is then cancelled).
    A cancellation of the caller always propagates."""
    try:
        async with asyncio.timeout(timeout_s):
            return await awaitable
    except TimeoutError:
        return None


def stop_if_cancelled() -> None:
    """Raise CancelledError if this task has been asked to stop. Call it after awaiting a library
    that may swallow the request: aiomqtt waits for a broker's answer with `asyncio.wait_for`, so
    on 3.11 a stop that arrives with the answer is lost (gh-86296), and a delivery loop around it
    would run on while the gateway waits for it for ever (seen: the MQTT courier kept a stopping
    gateway up). A request that was handled (uncancel) does not count."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def finish(awaitable: Awaitable[T]) -> T:
    """Await `awaitable` to its end even if this task is asked to stop meanwhile, and return its
    result; the stop then takes effect at this task's next await. For a write that must not be cut
    in the middle: a task cancelled mid-statement loses the batch it was writing (or, if the
    statement went through after all, stores it twice when the batch is written again on the way
    out). The stop stands when the write fails too (its error is raised, the stop follows); a second
    stop while waiting is not held back."""
    inner = asyncio.ensure_future(awaitable)
    try:
        return await asyncio.shield(inner)
    except asyncio.CancelledError:
        pass
    task = asyncio.current_task()
    assert task is not None
    try:
        return await inner
    finally:
        if task.cancelling() == 1:  # (asked a second time meanwhile: that stop is under way already)
            # Ask again, as often as asked before (an enclosing asyncio.timeout counts requests).
            task.uncancel()
            task.cancel()


async def uncancellable(work: Awaitable[None]) -> None:
    """Await `work` (a coroutine, or a future such as a thread's) to the end however often this task
    is cancelled meanwhile, then raise the cancellation. For the work of a stop itself (a `finally:`
    that releases leases, seals the open segment, frees codecs after their thread's last packet):
    unlike `finish`, a second stop does not cut it short either."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                break
            cancelled = True
    task.result()
    if cancelled:
        raise asyncio.CancelledError
