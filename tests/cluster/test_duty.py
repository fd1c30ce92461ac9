"""The cluster duty's lock on a real PostgreSQL: of two nodes exactly one runs the duties and the
database names it; a holder whose session the server ends (what idle_session_timeout does to a
SIGSTOPped node, done here at once with pg_terminate_backend) cancels its duties and the other node
takes over; a holder that stops cleanly hands over within a round. The checkpoint signer, on the
same primitive (core/sessionlock.py), is tested in tests/policy/test_log_signer.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager, suppress

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cluster.duty import APPLICATION_PREFIX, DutyHolder, duty_node, is_duty_node
from core.clusterconfig import ClusterConfig
from core.db import make_engine

LEASE_S, RENEW_S = 2.0, 0.25
CONFIG = ClusterConfig(lease_s=LEASE_S, renew_s=RENEW_S)


class Duties:
    """Duties that only note when they run and when they are cancelled."""

    def __init__(self) -> None:
        self.started = 0
        self.cancelled = 0
        self.running = 0

    async def start(self, tasks: asyncio.TaskGroup) -> None:
        self.started += 1
        tasks.create_task(self._duty())

    async def _duty(self) -> None:
        self.running += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.running -= 1


@asynccontextmanager
async def node(pg_url: str, node_id: str) -> AsyncIterator[tuple[DutyHolder, Duties, AsyncEngine]]:
    """A node's duty holder on an engine of its own, running until the block ends."""
    engine = make_engine(pg_url)
    duties = Duties()
    holder = DutyHolder(engine, node_id, CONFIG, duties.start)
    task = asyncio.create_task(holder.run())
    try:
        yield holder, duties, engine
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        await engine.dispose()


async def eventually(check: Callable[[], bool | Awaitable[bool]], within: float, what: str) -> float:
    """Seconds until `check` held; fails after `within`."""
    start = time.monotonic()
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return time.monotonic() - start
        if time.monotonic() - start > within:
            raise AssertionError(f"{what}: not within {within} s")
        await asyncio.sleep(0.05)


async def shown_holder(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await duty_node(conn)


@pytest.mark.timeout(30)
async def test_one_node_holds_the_duty_and_a_terminated_session_hands_it_over(pg_url: str) -> None:
    async with node(pg_url, "node-a") as (a, duties_a, engine), node(pg_url, "node-b") as (b, duties_b, _):
        await eventually(lambda: a.holding or b.holding, 2, "one node takes the duty")
        await asyncio.sleep(4 * RENEW_S)  # several rounds: the other never takes it beside
        holder, other = (a, b) if a.holding else (b, a)
        held_duties, other_duties = (duties_a, duties_b) if holder is a else (duties_b, duties_a)
        assert not other.holding and other_duties.started == 0
        assert held_duties.started == 1 and held_duties.running == 1
        assert await shown_holder(engine) == holder.node_id

        # The server ends the holder's session (as idle_session_timeout ends a paused node's).
        async with engine.connect() as conn:
            ended = await conn.scalar(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = :n"),
                {"n": APPLICATION_PREFIX + holder.node_id})
        assert ended == 1
        stopped = await eventually(lambda: held_duties.cancelled == 1 and held_duties.running == 0,
                                   2 * RENEW_S + 1, "the old holder's duties cancelled")
        await eventually(lambda: other.holding and other_duties.running == 1, 2 * RENEW_S + 1,
                         "the other node takes the duty")
        assert await shown_holder(engine) == other.node_id
        # The old holder asks again each round, and waits: the lock is the other's now.
        await asyncio.sleep(4 * RENEW_S)
        assert not holder.holding and held_duties.started == 1
        assert other_duties.started == 1 and other_duties.cancelled == 0
        print(f"duty: the terminated holder stopped its duties {stopped:.2f} s after its session ended")


@pytest.mark.timeout(30)
async def test_a_holder_that_stops_cleanly_hands_the_duty_over_within_a_round(pg_url: str) -> None:
    first = AsyncExitStack()
    a, duties_a, _ = await first.enter_async_context(node(pg_url, "node-a"))
    try:
        await eventually(lambda: a.holding, 2, "node-a, alone, takes the duty")
        async with node(pg_url, "node-b") as (b, duties_b, engine):
            await asyncio.sleep(4 * RENEW_S)
            assert not b.holding and duties_b.started == 0
            await first.aclose()  # node-a stops: its duties are cancelled and the lock released
            assert not a.holding and duties_a.cancelled == 1 and duties_a.running == 0
            took = await eventually(lambda: b.holding and duties_b.running == 1, RENEW_S + 0.5,
                                    "node-b takes the duty")
            assert await shown_holder(engine) == "node-b"
    finally:
        await first.aclose()
    print(f"duty: handed over {took:.2f} s after a clean stop")


async def test_nobody_holds_the_duty_before_a_node_takes_it(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        assert await shown_holder(engine) is None
    finally:
        await engine.dispose()


def test_a_node_id_cut_by_application_name_still_matches() -> None:
    long_id = "a-very-long-host-name.of.the.city.control.room.example:8080/w0"
    shown = (APPLICATION_PREFIX + long_id)[:63].removeprefix(APPLICATION_PREFIX)
    assert is_duty_node(long_id, shown)
    assert not is_duty_node("node-b", shown) and not is_duty_node("node-a", "node-b")
    assert not is_duty_node("node-a", None)
