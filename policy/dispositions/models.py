"""Tables of the disposition workflow: letters, playback requests, approvals, dispositions."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime


class RequestStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"  # a disposition token was issued
    REFUSED = "refused"


class Verdict(enum.StrEnum):
    APPROVE = "approve"
    REFUSE = "refuse"


class Letter(Base):
    """A scanned disposition letter, stored once per content under data_dir/letters/."""

    __tablename__ = "letters"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(32), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    path: Mapped[str] = mapped_column(String(256), nullable=False)  # relative to data_dir
    uploaded_by: Mapped[str] = mapped_column(String(64), nullable=False)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class PlaybackRequest(Base):
    """An operator's request to replay footage for an outside party, backed by a letter."""

    __tablename__ = "playback_requests"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    requester: Mapped[str] = mapped_column(String(64), nullable=False)
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    party_name: Mapped[str] = mapped_column(String(200), nullable=False)
    party_organisation: Mapped[str] = mapped_column(String(200), nullable=False)
    purpose: Mapped[str] = mapped_column(Text, nullable=False)
    letter_number: Mapped[str] = mapped_column(String(100), nullable=False)
    letter_date: Mapped[date] = mapped_column(Date, nullable=False)
    letter_sha256: Mapped[str] = mapped_column(ForeignKey("letters.sha256"), nullable=False)
    cameras: Mapped[str] = mapped_column(Text, nullable=False)  # comma-separated ids ([a-z0-9-])
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    max_views: Mapped[int] = mapped_column(Integer, nullable=False)
    valid_days: Mapped[int] = mapped_column(Integer, nullable=False)
    # Copies (export downloads) asked for; 0 = replay only. Approved separately by each approver.
    copies: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Approval(Base):
    """One supervisor's verdict on a request; one per approver and request."""

    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("request_id", "approver_id", name="uq_approvals_request_approver"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("playback_requests.id"), nullable=False, index=True)
    approver: Mapped[str] = mapped_column(String(64), nullable=False)
    approver_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    verdict: Mapped[str] = mapped_column(String(8), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False)
    # This approver also approved the copies the request asks for (its own checkbox).
    copies_approved: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Disposition(Base):
    """An issued token: its claims, and the state no token can carry (views used, revocation)."""

    __tablename__ = "dispositions"

    token_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("playback_requests.id"), nullable=False, unique=True)
    key_id: Mapped[str] = mapped_column(String(16), nullable=False)
    # The signed claims (JSON), so the same token can be handed out again without storing it:
    # Ed25519 signatures are deterministic, and a database leak then yields no usable token.
    claims: Mapped[str] = mapped_column(Text, nullable=False)
    max_views: Mapped[int] = mapped_column(Integer, nullable=False)
    # Views used over all cameras (with `views_per: camera` each camera's count is in disposition_views).
    views_used: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    copies: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    copies_used: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_view_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    revoke_reason: Mapped[str] = mapped_column(Text, nullable=False, default="")


class DispositionView(Base):
    """Views used of one camera of a disposition, counted atomically (one conditional UPDATE)."""

    __tablename__ = "disposition_views"

    token_id: Mapped[str] = mapped_column(ForeignKey("dispositions.token_id"), primary_key=True)
    camera: Mapped[str] = mapped_column(String(64), primary_key=True)
    used: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
