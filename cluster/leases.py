"""Camera leases: at most one node owns a camera at a time, until `expires_at` on the database's
clock. Each new owner gets the camera's epoch plus one; a node renews only while (owner, epoch) are
still its own and unexpired, so a node that paused past its lease learns it lost the camera."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cluster.dbclock import require_postgresql
from core.errors import PantauError

log = logging.getLogger(__name__)


class LeaseLost(PantauError):
    """This node no longer owns the camera under that epoch: it must stop writing it."""

    status = 409
    kind = "lease-lost"
    title = "Camera lease lost"

    def __init__(self, camera: str, epoch: int) -> None:
        super().__init__(f"lease on camera {camera!r} under epoch {epoch} is no longer this node's")
        self.camera = camera
        self.epoch = epoch


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease this node holds: the camera, its epoch and when it runs out (database time)."""

    camera: str
    epoch: int
    expires_at: datetime
    #: On acquire: the other node that held the camera before (None: nobody, or this node itself).
    previous_owner: str | None = None
    #: On acquire: whether that owner let its lease run out instead of releasing it (it crashed,
    #: paused or was cut off): a failover rather than a handover.
    previous_expired: bool = False

    @property
    def failed_over_from(self) -> str | None:
        """The other node whose lease ran out before this one was acquired (a failover), or None."""
        return self.previous_owner if self.previous_expired else None

    @property
    def handed_over_from(self) -> str | None:
        """The other node that released the camera before this lease was acquired (a handover), or None."""
        return None if self.previous_expired else self.previous_owner


# One statement, so two nodes asking at once cannot both win: the row lock of ON CONFLICT makes the
# second wait, then see the first one's unexpired lease and return nothing. A released lease has
# expires_at = the release's time, hence `<=`. The row is never deleted: the epoch only grows.
# `prev` is the row before this statement (a release set renewed_at = expires_at, an expiry did not):
# what tells a failover from a handover.
_ACQUIRE = text(
    "WITH prev AS (SELECT owner, expires_at > renewed_at AS unreleased FROM camera_leases WHERE camera_id = :camera) "
    "INSERT INTO camera_leases AS l (camera_id, owner, epoch, acquired_at, renewed_at, expires_at) "
    "VALUES (:camera, :owner, 1, statement_timestamp(), statement_timestamp(), "
    "        statement_timestamp() + make_interval(secs => :lease_s)) "
    "ON CONFLICT (camera_id) DO UPDATE SET owner = excluded.owner, epoch = l.epoch + 1, "
    "    acquired_at = excluded.acquired_at, renewed_at = excluded.renewed_at, expires_at = excluded.expires_at "
    "WHERE l.expires_at <= statement_timestamp() OR (:restart AND l.owner = excluded.owner) "
    "RETURNING l.epoch, l.expires_at, (SELECT owner FROM prev) AS prev_owner, (SELECT unreleased FROM prev) AS prev_unreleased"
)
_RENEW = text(
    "UPDATE camera_leases SET renewed_at = statement_timestamp(), "
    "    expires_at = statement_timestamp() + make_interval(secs => :lease_s) "
    "WHERE camera_id = :camera AND owner = :owner AND epoch = :epoch AND expires_at > statement_timestamp() "
    "RETURNING expires_at"
)
_RELEASE = text(
    "UPDATE camera_leases SET expires_at = statement_timestamp(), renewed_at = statement_timestamp() "
    "WHERE camera_id = :camera AND owner = :owner AND epoch = :epoch AND expires_at > statement_timestamp()"
)
_COUNTS = text(
    "SELECT owner, count(*) AS cameras FROM camera_leases WHERE expires_at > statement_timestamp() GROUP BY owner"
)
_OWNED = text(
    "SELECT camera_id, epoch, expires_at FROM camera_leases "
    "WHERE owner = :owner AND expires_at > statement_timestamp() ORDER BY camera_id"
)


class LeaseBook:
    """One node's leases (`node_id`), each `lease_s` long from its last renewal."""

    def __init__(self, db: async_sessionmaker[AsyncSession], node_id: str, lease_s: float) -> None:
        self._db = db
        self.node_id = node_id
        self.lease_s = lease_s

    async def acquire(self, camera: str, restart: bool = False) -> Lease | None:
        """Take `camera` when it is free or its lease expired: the new lease (epoch one higher than the
        last owner's, with who that was); None while another node, or this one, holds it. `restart`:
        this process just started under this node id, so an unexpired lease under the same id is a
        previous run's (it crashed) and is taken over at once under a new epoch, which fences it."""
        async with self._db() as session:
            require_postgresql(session)
            row = (await session.execute(
                _ACQUIRE, {"camera": camera, "owner": self.node_id, "lease_s": self.lease_s, "restart": restart}
            )).first()
            await session.commit()
        if row is None:
            return None
        previous = row.prev_owner if row.prev_owner != self.node_id else None
        lease = Lease(camera, int(row.epoch), row.expires_at, previous, bool(row.prev_unreleased))
        log.info("acquired camera %s under epoch %d%s", camera, lease.epoch,
                 f" (from node {previous}, whose lease {'ran out' if lease.previous_expired else 'was released'})"
                 if previous else "", extra={"camera": camera, "node": self.node_id})
        return lease

    async def renew(self, lease: Lease) -> Lease:
        """Extend `lease` by lease_s from now; raises LeaseLost when it expired or another node has
        taken the camera since (the caller must stop writing it)."""
        async with self._db() as session:
            require_postgresql(session)
            expires_at = await session.scalar(
                _RENEW, {"camera": lease.camera, "owner": self.node_id, "epoch": lease.epoch, "lease_s": self.lease_s}
            )
            await session.commit()
        if expires_at is None:
            log.warning("lost the lease on camera %s (epoch %d)", lease.camera, lease.epoch,
                        extra={"camera": lease.camera, "node": self.node_id})
            raise LeaseLost(lease.camera, lease.epoch)
        return Lease(lease.camera, lease.epoch, expires_at)

    async def release(self, lease: Lease) -> bool:
        """Give `lease` up now (a clean stop), so another node need not wait for it to expire; False
        when it was no longer ours anyway. The epoch stays: the next owner's is one higher."""
        async with self._db() as session:
            require_postgresql(session)
            result = await session.execute(
                _RELEASE, {"camera": lease.camera, "owner": self.node_id, "epoch": lease.epoch}
            )
            await session.commit()
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def owned(self) -> list[Lease]:
        """The unexpired leases this node holds, by camera."""
        async with self._db() as session:
            require_postgresql(session)
            rows = (await session.execute(_OWNED, {"owner": self.node_id})).all()
        return [Lease(r.camera_id, int(r.epoch), r.expires_at) for r in rows]


async def lease_counts(db: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """How many unexpired leases each node holds, by node id (nodes holding none are absent)."""
    async with db() as session:
        require_postgresql(session)
        rows = (await session.execute(_COUNTS)).all()
    return {r.owner: int(r.cameras) for r in rows}
