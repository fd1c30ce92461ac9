"""The durable outbox: every alert in order (table `alerts`), and how far each sink has delivered
(table `alert_cursors`). A sink that was down, or a gateway that restarted, goes on from its cursor;
a client that reconnects resumes from the last id it saw. Rows older than `alerts.keep_h` go."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Integer, String, Text, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from alerts.model import Alert
from core.alerting import AlertKind, Severity
from core.db import Base, UTCDateTime


class AlertRow(Base):
    """One alert; `seq` is its place in the order every sink delivers in."""

    __tablename__ = "alerts"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    camera: Mapped[str | None] = mapped_column(String(64), nullable=True)
    severity: Mapped[str] = mapped_column(String(16), nullable=False)
    #: JSON: {"summary": {"en", "id"}, "details": {...}}
    body: Mapped[str] = mapped_column(Text, nullable=False)


class AlertCursor(Base):
    """The last `seq` one sink has delivered (or skipped as not wanted)."""

    __tablename__ = "alert_cursors"

    sink: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)


def _alert(row: AlertRow) -> Alert:
    body = json.loads(row.body)
    return Alert(
        seq=row.seq, id=row.id, kind=AlertKind(row.kind), at=row.at, severity=Severity(row.severity),
        summary=body.get("summary", {}), camera=row.camera, details=body.get("details", {}),
    )


class Outbox:
    """Reads and writes the outbox tables."""

    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db

    async def append(self, alerts: Sequence[Alert]) -> list[Alert]:
        """Store `alerts` in one transaction, in order; returns them with their `seq`."""
        rows = [
            AlertRow(id=a.id, kind=a.kind.value, at=a.at, camera=a.camera, severity=a.severity.value,
                     body=json.dumps({"summary": dict(a.summary), "details": dict(a.details or {})},
                                     separators=(",", ":"), ensure_ascii=False))
            for a in alerts
        ]
        async with self._db() as session:
            for row in rows:  # one flush each: the order of seq is the order given
                session.add(row)
                await session.flush()
            await session.commit()
        return [_alert(row) for row in rows]

    async def after(self, seq: int, limit: int = 100, kinds: Collection[AlertKind] = ()) -> list[Alert]:
        """Alerts with a seq above `seq`, oldest first."""
        query = select(AlertRow).where(AlertRow.seq > seq).order_by(AlertRow.seq).limit(limit)
        if kinds:
            query = query.where(AlertRow.kind.in_([k.value for k in kinds]))
        async with self._db() as session:
            return [_alert(row) for row in (await session.scalars(query)).all()]

    async def by_id(self, alert_id: str) -> Alert | None:
        async with self._db() as session:
            row = await session.scalar(select(AlertRow).where(AlertRow.id == alert_id))
        return _alert(row) if row is not None else None

    async def last_seq(self) -> int:
        async with self._db() as session:
            return int(await session.scalar(select(func.coalesce(func.max(AlertRow.seq), 0))) or 0)

    async def cursor(self, sink: str) -> int:
        """Where `sink` goes on from; a new sink starts at the newest alert (no backlog of history)."""
        async with self._db() as session:
            row = await session.get(AlertCursor, sink)
            if row is not None:
                return row.seq
            last = int(await session.scalar(select(func.coalesce(func.max(AlertRow.seq), 0))) or 0)
            session.add(AlertCursor(sink=sink, seq=last))
            await session.commit()
            return last

    async def advance(self, sink: str, seq: int) -> None:
        async with self._db() as session:
            row = await session.get(AlertCursor, sink)
            if row is None:
                session.add(AlertCursor(sink=sink, seq=seq))
            elif seq > row.seq:
                row.seq = seq
            await session.commit()

    async def prune(self, before: datetime) -> int:
        """Delete alerts older than `before`; returns how many."""
        async with self._db() as session:
            result = await session.execute(delete(AlertRow).where(AlertRow.at < before))
            await session.commit()
        return int(cast(CursorResult[Any], result).rowcount or 0)
