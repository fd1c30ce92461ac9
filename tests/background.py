"""Running long-lived parts (a bus, couriers, a sink) beside a test's body."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any


@asynccontextmanager
async def in_background(*jobs: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run `jobs` as tasks while the block runs, then cancel them; an error of theirs fails the test."""
    async with asyncio.TaskGroup() as tasks:
        running = [tasks.create_task(job) for job in jobs]
        try:
            yield
        finally:
            for task in running:
                task.cancel()
