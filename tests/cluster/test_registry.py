"""The node registry and the nodes overview on a real PostgreSQL: register, heartbeat, stop, and
ages measured on the database's clock."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cluster.leases import LeaseBook
from cluster.overview import NodeState, cluster_overview, node_state, overview_text
from cluster.registry import NodeRegistry, list_nodes


async def db_time(db: async_sessionmaker[AsyncSession]) -> object:
    async with db() as session:
        return await session.scalar(select(func.clock_timestamp()))


async def test_register_heartbeat_stop_on_the_database_clock(db: async_sessionmaker[AsyncSession]) -> None:
    registry = NodeRegistry(db, "node-a")
    before = await db_time(db)
    await registry.register("http://a.example:8080", 16)
    after = await db_time(db)
    [node] = await list_nodes(db)
    assert (node.node_id, node.url, node.capacity, node.stopped_at) == ("node-a", "http://a.example:8080", 16, None)
    assert before <= node.heartbeat_at <= after  # type: ignore[operator]
    assert node.started_at == node.heartbeat_at
    await asyncio.sleep(0.3)
    assert await registry.heartbeat()
    [beat] = await list_nodes(db)
    assert beat.heartbeat_at > node.heartbeat_at and beat.started_at == node.started_at
    assert 0 <= beat.heartbeat_age_s < 1
    await registry.mark_stopped()
    [stopped] = await list_nodes(db)
    assert stopped.stopped_at is not None
    # Starting again under the same id: a fresh start, no longer stopped.
    await registry.register("http://a.example:8081", 8)
    [again] = await list_nodes(db)
    assert again.stopped_at is None and again.url == "http://a.example:8081" and again.started_at > node.started_at
    assert not await NodeRegistry(db, "never-registered").heartbeat()


async def test_heartbeat_ages_are_the_databases(db: async_sessionmaker[AsyncSession]) -> None:
    # A heartbeat 40 s old by the database's clock reads 40 s old, whatever this process's clock says.
    await NodeRegistry(db, "node-a").register("http://a:1", 4)
    await NodeRegistry(db, "node-b").register("http://b:1", 4)
    async with db() as session:
        await session.execute(text(
            "UPDATE nodes SET heartbeat_at = statement_timestamp() - interval '40 seconds' WHERE node_id = 'node-b'"))
        await session.commit()
    ages = {n.node_id: n.heartbeat_age_s for n in await list_nodes(db)}
    assert ages["node-a"] < 1 and 40 <= ages["node-b"] < 41
    views = {v.node_id: v for v in await cluster_overview(db, lease_s=10)}
    assert views["node-a"].state is NodeState.ALIVE and views["node-b"].state is NodeState.STALE


async def test_overview_lists_each_nodes_cameras(db: async_sessionmaker[AsyncSession]) -> None:
    await NodeRegistry(db, "node-a").register("http://a:1", 4)
    stopped = NodeRegistry(db, "node-c")
    await stopped.register("http://c:1", 4)
    await stopped.mark_stopped()
    book = LeaseBook(db, "node-a", 10)
    for camera in ("gate", "yard"):
        assert await book.acquire(camera) is not None
    assert await LeaseBook(db, "ghost", 10).acquire("roof") is not None  # a lease without a registered node
    views = await cluster_overview(db, lease_s=10)
    assert [(v.node_id, v.state, [x.camera for x in v.leases]) for v in views] == [
        ("node-a", NodeState.ALIVE, ["gate", "yard"]),
        ("node-c", NodeState.STOPPED, []),
        ("ghost", NodeState.STALE, ["roof"]),
    ]
    lease = views[0].leases[0]
    assert lease.epoch == 1 and lease.held_s < 1 and lease.renewed_s < 1 and 9 < lease.expires_in_s <= 10
    printed = overview_text(views)
    assert "node-a  alive  heartbeat" in printed and "2/4 cameras  http://a:1" in printed
    assert "  gate  epoch 1  held" in printed and "node-c  stopped" in printed
    assert "ghost  stale  heartbeat never  1/? cameras  (not registered)" in printed


@pytest.mark.parametrize(("age", "stopped", "state"), [
    (0.0, False, NodeState.ALIVE), (10.0, False, NodeState.ALIVE), (10.1, False, NodeState.STALE),
    (0.0, True, NodeState.STOPPED), (99.0, True, NodeState.STOPPED),
])
def test_node_state(age: float, stopped: bool, state: NodeState) -> None:
    assert node_state(age, stopped, lease_s=10) is state


async def test_membership_heartbeats_registers_again_and_stops(db: async_sessionmaker[AsyncSession]) -> None:
    from cluster.membership import Membership
    from core.clusterconfig import ClusterConfig

    config = ClusterConfig(lease_s=2, renew_s=0.2, capacity=3)
    async with Membership(db, config, "node-m", "http://m:1") as member:
        beat = asyncio.create_task(member.run())
        try:
            [first] = await list_nodes(db)
            await asyncio.sleep(0.5)
            [later] = await list_nodes(db)
            assert later.heartbeat_at > first.heartbeat_at and later.stopped_at is None
            async with db() as session:  # someone removes the node's row while it runs
                await session.execute(text("DELETE FROM nodes"))
                await session.commit()
            await asyncio.sleep(0.5)
            [back] = await list_nodes(db)
            assert (back.node_id, back.url, back.capacity, back.stopped_at) == ("node-m", "http://m:1", 3, None)
        finally:
            beat.cancel()
            with pytest.raises(asyncio.CancelledError):
                await beat
    [stopped] = await list_nodes(db)
    assert stopped.stopped_at is not None
