"""Fencing: a write that belongs to a camera's owner checks, inside its own transaction, that its
lease epoch is still the camera's and unexpired, and holds the lease row (FOR SHARE) until it commits.
A new owner's acquire (an UPDATE of that row) then waits for the write to commit, and a node that
paused and resumed with a stale epoch is refused instead of writing beside the new owner."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from cluster.dbclock import require_postgresql
from cluster.leases import LeaseLost

_STILL_OWNER = text(
    "SELECT 1 FROM camera_leases WHERE camera_id = :camera AND epoch = :epoch "
    "AND expires_at > statement_timestamp() FOR SHARE"
)


async def still_owner(session: AsyncSession, camera: str, epoch: int) -> bool:
    """Whether `epoch` is `camera`'s current, unexpired lease; when it is, the lease row stays locked
    against a new owner until `session`'s transaction ends. Call it in the transaction that writes."""
    require_postgresql(session)
    return (await session.scalar(_STILL_OWNER, {"camera": camera, "epoch": epoch})) is not None


async def fence(session: AsyncSession, camera: str, epoch: int) -> None:
    """`still_owner`, raising LeaseLost when it is not (which rolls back a `session.begin()` block)."""
    if not await still_owner(session, camera, epoch):
        raise LeaseLost(camera, epoch)
