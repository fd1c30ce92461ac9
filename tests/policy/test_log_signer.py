"""One checkpoint signer among processes sharing a PostgreSQL access log: of two running checkpointers
exactly one signs while both append; when it stops the other takes over; a holder that goes silent
(paused) loses its session to the server's idle timeout, the lock passes on, and the old holder, resumed,
finds its session gone and signs nothing; the log verifies throughout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from policy.audit.accesslog import AccessLog
from policy.audit.cli import verify_database
from policy.audit.models import AccessLogCheckpoint, AccessLogEntry
from policy.audit.signerlock import SignerLock

from .logutil import ORIGIN, event, new_signer, open_log

pg_only = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
INTERVAL_S = 0.2


async def eventually(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s")
        await asyncio.sleep(0.05)


async def checkpoint_sizes(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        return list((await conn.scalars(select(AccessLogCheckpoint.size).order_by(AccessLogCheckpoint.size))).all())


async def entries(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(AccessLogEntry)) or 0)


@pg_only
@pytest.mark.timeout(60)
async def test_one_of_two_checkpointers_signs_and_the_other_takes_over(db_url: str) -> None:
    signer = new_signer()
    async with open_log(db_url, signer, checkpoint_interval_s=INTERVAL_S) as (a, engine), \
            open_log(db_url, signer, checkpoint_interval_s=INTERVAL_S) as (b, _):
        logs = {"a": a, "b": b}
        tasks = {name: asyncio.create_task(log.run()) for name, log in logs.items()}
        try:
            for i in range(20):
                await (a if i % 2 else b).record(event(i))

            async def covered() -> bool:
                return (await checkpoint_sizes(engine) or [0])[-1] == await entries(engine)
            await eventually(covered, 5, "both processes' entries signed")
            # Exactly one is the signer; the other appended, and signed nothing (its rounds returned None).
            assert sorted(log.signing for log in logs.values()) == [False, True]
            first = next(name for name, log in logs.items() if log.signing)
            other = "b" if first == "a" else "a"
            assert await logs[other].checkpoint() is None
            # The signer stops cleanly (a final checkpoint, then the lock is released): the other signs.
            tasks.pop(first).cancel()
            await asyncio.wait({*tasks.values()}, timeout=0.5)
            for i in range(20, 30):
                await logs[other].record(event(i))
            await eventually(covered, 5, "the remaining process signs after the signer stopped")
            assert logs[other].signing
        finally:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
    result = await verify_database(db_url, signer, origin=ORIGIN)
    assert result.ok and result.entries == 30, result.summary()


@pg_only
async def test_a_silent_holder_loses_the_lock_and_cannot_sign_when_it_resumes(db_url: str) -> None:
    async with open_log(db_url) as (_, engine_a), open_log(db_url) as (_, engine_b):
        paused, other = SignerLock(engine_a, idle_timeout_s=1.0), SignerLock(engine_b)
        try:
            assert await paused.session() is not None
            assert await other.session() is None  # held: the other waits
            await asyncio.sleep(1.6)  # the holder says nothing (SIGSTOP): the server ends its session
            assert await other.session() is not None
            assert await paused.session() is None and not paused.held  # its session is gone, the lock taken
        finally:
            await paused.close()
            await other.close()


@pg_only
async def test_a_one_off_checkpoint_defers_to_a_running_signer(db_url: str) -> None:
    signer = new_signer()
    async with open_log(db_url, signer, checkpoint_interval_s=INTERVAL_S) as (running, engine), \
            open_log(db_url, signer) as (cli, _):
        task = asyncio.create_task(running.run())
        try:
            await running.record(event(0))
            await eventually(lambda: _signing(running), 5, "the running checkpointer signs")
            seq = await cli.append(event(1))
            assert await cli.checkpoint() is None  # the CLI does not sign beside it...
            await cli.checkpoint_covering(seq)  # ...but waits for the signer's checkpoint over its entry
            assert (await checkpoint_sizes(engine))[-1] > seq
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _signing(log: AccessLog) -> bool:
    return log.signing
