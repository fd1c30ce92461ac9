"""The cases' tables. `cases` holds each case's current state and changes until it is closed (a
trigger refuses any change to a closed case, and every delete); what happened is in `case_events`,
insert-only like the access log, as are the holds a case placed and its berita acara."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime

#: Insert-only tables (alembic 0009; policy/audit/dbrole.py grants the app role SELECT and INSERT only).
RECORD_TABLES = ("case_events", "case_holds", "berita_acara")


class CaseRow(Base):
    """A case as it stands now; its history is its events."""

    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    severity: Mapped[str] = mapped_column(String(16), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)  # when it happened
    cameras: Mapped[str] = mapped_column(Text, nullable=False, default="")  # comma-separated ids
    playbook: Mapped[str | None] = mapped_column(String(64), nullable=True)
    category: Mapped[str | None] = mapped_column(String(64), nullable=True)
    channel: Mapped[str | None] = mapped_column(String(16), nullable=True)
    location: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    # Personal data of a complainant (UU PDP 27/2022): shown only to access.cases.reporter_roles;
    # the events carry its SHA-256, never the data.
    reporter_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reporter_contact: Mapped[str | None] = mapped_column(String(200), nullable=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    opened_by: Mapped[str] = mapped_column(String(64), nullable=False)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    forwarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    escalations: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    number: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)  # the berita acara's
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class CaseEventRow(Base):
    """One thing that happened to a case: opened, acknowledged, escalated, forwarded, ... closed."""

    __tablename__ = "case_events"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), nullable=False, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    log_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)


class CaseHoldRow(Base):
    """An evidence hold a case placed (recorder's `holds` row), so the minutes can list its segments."""

    __tablename__ = "case_holds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), nullable=False, index=True)
    hold_id: Mapped[int] = mapped_column(Integer, nullable=False)
    camera: Mapped[str] = mapped_column(String(64), nullable=False)
    start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    end: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class BeritaAcaraRow(Base):
    """The follow-up minutes of a closed case: the PDF as signed, its hash and detached signature."""

    __tablename__ = "berita_acara"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    number: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    signed_by: Mapped[str] = mapped_column(String(64), nullable=False)
    pdf: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    pdf_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    signature: Mapped[str] = mapped_column(Text, nullable=False)  # base64 Ed25519 over the PDF's bytes
    key_id: Mapped[str] = mapped_column(String(32), nullable=False)
    log_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)


class CaseNumberRow(Base):
    """The last berita acara number given in a period (a month)."""

    __tablename__ = "case_numbers"

    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, nullable=False)
