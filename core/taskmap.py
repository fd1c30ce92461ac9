"""Long-running tasks by key inside a TaskGroup that someone else owns and awaits.

A camera added while running gets its tasks (ingest, recording, event subscription) in the
owner's TaskGroup; a camera changed while running must stop exactly its own. `TaskMap` keeps
the handles so one can be cancelled and awaited without touching the others or the group
(a TaskGroup treats a cancelled child as finished, not as a failure).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class TaskMap:
    """The running task of each key."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[Any]] = {}

    def start(self, group: asyncio.TaskGroup, key: str, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Run `coro` in `group` as `key`'s task (one per key: stop the old one first)."""
        if key in self._tasks:
            coro.close()
            raise RuntimeError(f"{name}: a task for {key!r} is running already")
        task = group.create_task(coro, name=name)
        self._tasks[key] = task
        task.add_done_callback(lambda done: self._forget(key, done))

    async def stop(self, key: str) -> None:
        """Cancel `key`'s task and wait until it has finished its cleanup (no-op without one)."""
        task = self._tasks.pop(key, None)
        if task is None:
            return
        task.cancel()
        # Not `await task`: its CancelledError is not ours, and if we are cancelled meanwhile
        # the task still finishes its cleanup under the group.
        await asyncio.wait({task})

    def __contains__(self, key: object) -> bool:
        return key in self._tasks

    def _forget(self, key: str, done: asyncio.Task[Any]) -> None:
        if self._tasks.get(key) is done:
            del self._tasks[key]
