"""The shift desk's tables. Every one is insert-only (a trigger refuses UPDATE and DELETE on both
backends; the app role may only SELECT and INSERT): a record the SOP asks for is never changed,
a correction is a new record that refers to it. `content` is the record's canonical JSON, `sha256`
its digest (what the access log and the printed footer carry), `log_seq` the access-log entry."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime

#: The tables a trigger keeps insert-only (alembic 0008, policy/audit/dbrole.py).
RECORD_TABLES = ("desk_shifts", "desk_checks", "desk_patrols", "desk_handovers", "desk_acceptances", "desk_amendments")


class ShiftRow(Base):
    """A shift opened by an operator signing on; closed by its handover."""

    __tablename__ = "desk_shifts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    operator: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    slot: Mapped[str | None] = mapped_column(String(64), nullable=True)
    planned_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    planned_end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    log_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)


class CheckRow(Base):
    """A camera and equipment check (SOP step 3) with what the server saw at that moment."""

    __tablename__ = "desk_checks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    shift_id: Mapped[str] = mapped_column(ForeignKey("desk_shifts.id"), nullable=False, index=True)
    operator: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    log_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)


class PatrolRow(Base):
    """A patrol through the cameras (SOP step 4): what was shown, acknowledged, skipped."""

    __tablename__ = "desk_patrols"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    shift_id: Mapped[str] = mapped_column(ForeignKey("desk_shifts.id"), nullable=False, index=True)
    operator: Mapped[str] = mapped_column(String(64), nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    log_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)


class HandoverRow(Base):
    """The outgoing operator's handover (SOP steps 2 and 10); it closes the shift."""

    __tablename__ = "desk_handovers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    shift_id: Mapped[str] = mapped_column(ForeignKey("desk_shifts.id"), nullable=False, unique=True)
    operator: Mapped[str] = mapped_column(String(64), nullable=False)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    log_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)


class AcceptanceRow(Base):
    """The incoming operator's countersignature, with objections if any, and the PDF as accepted."""

    __tablename__ = "desk_acceptances"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    handover_id: Mapped[str] = mapped_column(ForeignKey("desk_handovers.id"), nullable=False, unique=True)
    operator: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    pdf: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    pdf_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    log_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)


class AmendmentRow(Base):
    """A correction or addition to a filed handover: a new record pointing at it."""

    __tablename__ = "desk_amendments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    handover_id: Mapped[str] = mapped_column(ForeignKey("desk_handovers.id"), nullable=False, index=True)
    operator: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    log_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
