"""TaskMap: stopping one key's task waits for its cleanup and leaves the others and the group running."""

from __future__ import annotations

import asyncio

import pytest

from core.taskmap import TaskMap


async def test_stop_cancels_only_that_key_and_waits_for_its_cleanup() -> None:
    running = TaskMap()
    cleaned: list[str] = []
    ticks = {"a": 0, "b": 0}

    async def work(key: str) -> None:
        try:
            while True:
                ticks[key] += 1
                await asyncio.sleep(0.01)
        finally:
            await asyncio.sleep(0.05)  # cleanup that itself awaits (sealing a segment)
            cleaned.append(key)

    async with asyncio.TaskGroup() as group:
        running.start(group, "a", work("a"), "a")
        running.start(group, "b", work("b"), "b")
        await asyncio.sleep(0.05)
        await running.stop("a")
        assert cleaned == ["a"] and "a" not in running and "b" in running
        before = ticks["b"]
        await asyncio.sleep(0.05)
        assert ticks["b"] > before  # the other task and the group go on
        with pytest.raises(RuntimeError):
            running.start(group, "b", work("b"), "b")
        running.start(group, "a", work("a"), "a")  # a key can run again once stopped
        await asyncio.sleep(0.02)
        await running.stop("missing")
        await running.stop("a")
        await running.stop("b")
    assert sorted(cleaned) == ["a", "a", "b"]


async def test_a_finished_task_is_forgotten() -> None:
    running = TaskMap()

    async def done() -> None:
        return None

    async with asyncio.TaskGroup() as group:
        running.start(group, "x", done(), "x")
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert "x" not in running
