"""Tables of the access log: append-only entries and signed checkpoints.

Both refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) by trigger; see
gateway/alembic/versions/0002_access_log.py and policy/audit/dbrole.py for the grants.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime


class AccessLogEntry(Base):
    """One entry; `seq` is gapless from 0 and `prev_hash` unique, so the chain cannot fork."""

    __tablename__ = "access_log"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    entry_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)


class AccessLogCheckpoint(Base):
    """A signed checkpoint note over the first `size` entries."""

    __tablename__ = "access_log_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
