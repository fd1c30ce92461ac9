"""Tables owned by cluster/: the nodes and the camera leases (alembic 0017)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.clusterconfig import NODE_ID_MAX
from core.db import Base, UTCDateTime


class Node(Base):
    """One `pantau serve` process that registered; its times are the database's clock."""

    __tablename__ = "nodes"

    node_id: Mapped[str] = mapped_column(String(NODE_ID_MAX), primary_key=True)
    url: Mapped[str] = mapped_column(String(512), nullable=False)
    #: Cameras this node may hold leases on.
    capacity: Mapped[int] = mapped_column(Integer, nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    #: Set on a clean shutdown; None while running (or after a crash, when the heartbeat goes stale).
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CameraLease(Base):
    """Which node records a camera, under which epoch, until when. The row outlives its owners: the
    epoch only grows, so a stale owner's epoch never comes back (fencing compares it)."""

    __tablename__ = "camera_leases"

    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(NODE_ID_MAX), nullable=False, index=True)
    epoch: Mapped[int] = mapped_column(BigInteger, nullable=False)
    #: When the current owner took it (epoch began).
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    #: The owner's last renewal; a release sets it to expires_at (how an acquire tells a released lease
    #: from one that ran out).
    renewed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    #: Free for another node from this time on (a release sets it to the release's time).
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
