"""What `pantau nodes` and `/health` show: every node, its state (alive, stale, stopped), whether it
holds the cluster duty (cluster/duty.py) and the cameras it holds an unexpired lease on, with the
lease ages, all on the database's clock."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cluster.dbclock import database_now
from cluster.duty import duty_node, is_duty_node
from cluster.models import CameraLease, Node


class NodeState(enum.StrEnum):
    """A node as others see it."""

    #: Heartbeat within lease_s.
    ALIVE = "alive"
    #: No heartbeat for longer than lease_s and no clean stop: crashed, paused or cut off.
    STALE = "stale"
    #: Marked stopped on a clean shutdown.
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class HeldLease:
    """A camera a node holds, with its ages in seconds (database clock)."""

    camera: str
    epoch: int
    #: Since the owner took it (this epoch began).
    held_s: float
    #: Since its last renewal.
    renewed_s: float
    #: Until it is free for another node.
    expires_in_s: float


@dataclass(frozen=True, slots=True)
class NodeView:
    """One node: registry row, state and held leases."""

    node_id: str
    url: str
    capacity: int
    state: NodeState
    heartbeat_age_s: float
    started_at: datetime
    leases: tuple[HeldLease, ...]
    #: Whether this node holds the cluster duty (runs the room's couriers, watches and triggers).
    duty: bool = False


def node_state(heartbeat_age_s: float, stopped: bool, lease_s: float) -> NodeState:
    """Stopped when it said so; alive while its heartbeat is younger than a lease; stale after."""
    if stopped:
        return NodeState.STOPPED
    return NodeState.ALIVE if heartbeat_age_s <= lease_s else NodeState.STALE


async def cluster_overview(db: async_sessionmaker[AsyncSession], lease_s: float) -> list[NodeView]:
    """Every registered node by id with its unexpired leases. A lease whose owner never registered
    (or was removed) is listed under that owner as a stale node, so no held camera goes unseen."""
    async with db() as session:
        now = await database_now(session)
        nodes = (await session.scalars(select(Node).order_by(Node.node_id))).all()
        leases = (await session.scalars(
            select(CameraLease).where(CameraLease.expires_at > now).order_by(CameraLease.camera_id)
        )).all()
        duty = await duty_node(await session.connection())
    held: dict[str, list[HeldLease]] = {}
    for lease in leases:
        held.setdefault(lease.owner, []).append(HeldLease(
            lease.camera_id, lease.epoch, _age(now, lease.acquired_at), _age(now, lease.renewed_at),
            max(0.0, (lease.expires_at - now).total_seconds()),
        ))
    views = []
    for node in nodes:
        age = _age(now, node.heartbeat_at)
        views.append(NodeView(node.node_id, node.url, node.capacity, node_state(age, node.stopped_at is not None, lease_s),
                              age, node.started_at, tuple(held.pop(node.node_id, ())),
                              is_duty_node(node.node_id, duty)))
    for owner, orphans in sorted(held.items()):
        views.append(NodeView(owner, "", 0, NodeState.STALE, float("inf"), now, tuple(orphans)))
    return views


def _age(now: datetime, then: datetime) -> float:
    return max(0.0, (now - then).total_seconds())


def overview_text(views: list[NodeView]) -> str:
    """The plain text `pantau nodes` prints: a line per node, an indented line per held camera."""
    if not views:
        return "no nodes registered\n"
    lines = []
    for view in views:
        age = "never" if view.heartbeat_age_s == float("inf") else f"{view.heartbeat_age_s:.1f} s ago"
        lines.append(f"{view.node_id}  {view.state.value}  heartbeat {age}  "
                     f"{len(view.leases)}/{view.capacity or '?'} cameras  {view.url or '(not registered)'}"
                     + ("  [duty]" if view.duty else ""))
        for lease in view.leases:
            lines.append(f"  {lease.camera}  epoch {lease.epoch}  held {lease.held_s:.1f} s  "
                         f"renewed {lease.renewed_s:.1f} s ago  expires in {lease.expires_in_s:.1f} s")
    return "\n".join(lines) + "\n"
