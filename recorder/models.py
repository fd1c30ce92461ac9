"""Tables owned by recorder: sealed segments, gaps, evidence holds, bookmarks and the deletion record."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime


class Segment(Base):
    """One sealed (or recovered) fMP4 file: its span, size, hash and place in the camera's chain."""

    __tablename__ = "recording_segments"
    __table_args__ = (Index("ix_recording_segments_camera_start", "camera_id", "start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(String(64), nullable=False)
    start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    end: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    #: Path relative to storage.path, with forward slashes.
    path: Mapped[str] = mapped_column(String(512), nullable=False, unique=True)
    bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    #: sha256 of the camera's previous segment when this one was written (None: first).
    prev_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: "sealed" (closed normally) or "recovered" (sealed after a crash from a partial file).
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    codec: Mapped[str] = mapped_column(String(32), nullable=False)
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    audio_codec: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: The codec the camera sent when the recorder transcoded its sound (e.g. "pcm_alaw" -> "aac");
    #: None when the sound is stored as sent (or there is none).
    audio_source_codec: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: Which of the camera's streams this segment holds: "main" or "sub" (record_streams).
    stream: Mapped[str] = mapped_column(String(8), nullable=False, default="main", server_default="main")
    #: Camera clock minus server clock at the end of the segment (noted, never applied).
    drift_ms: Mapped[float] = mapped_column(Float, nullable=False)
    #: JSON: per-stream original index, time base and first dts (to restore timestamps).
    timestamps: Mapped[str] = mapped_column(Text, nullable=False)
    sealed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    #: The camera lease epoch the writing node held (cluster/fencing.py checks it at insert);
    #: None when one process records alone, without leases.
    lease_epoch: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Gap(Base):
    """A span without recording for one camera; `end` is None while it lasts."""

    __tablename__ = "recording_gaps"
    __table_args__ = (Index("ix_recording_gaps_camera_start", "camera_id", "start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(String(64), nullable=False)
    start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reason: Mapped[str] = mapped_column(String(256), nullable=False)
    #: Which of the camera's streams stopped recording: "main" or "sub" (record_streams).
    stream: Mapped[str] = mapped_column(String(8), nullable=False, default="main", server_default="main")


class Hold(Base):
    """An evidence hold: retention may not delete this camera's recordings in [start, end)."""

    __tablename__ = "evidence_holds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    end: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    reason: Mapped[str] = mapped_column(String(1024), nullable=False)
    owner: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    released_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    release_reason: Mapped[str | None] = mapped_column(String(1024), nullable=True)


class Deletion(Base):
    """What retention deleted, with the segment's hash, so the chain stays checkable."""

    __tablename__ = "segment_deletions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    end: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    path: Mapped[str] = mapped_column(String(512), nullable=False)
    bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    prev_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: "age", "budget" or "free_space".
    reason: Mapped[str] = mapped_column(String(32), nullable=False)
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class RetentionPeriod(Base):
    """From `since` on, the camera's recordings were kept `days` (the retention in force then, floor
    included). A segment is kept at least as long as the retention in force when it was recorded:
    shortening a retention (in the config file, or through the API) applies to what is recorded
    after, never to what was recorded before. Insert-only."""

    __tablename__ = "retention_periods"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    days: Mapped[float] = mapped_column(Float, nullable=False)
    since: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Bookmark(Base):
    """A moment (or a range, `end` set) of a camera's recordings marked with a note; insert-only.
    `content` is the canonical record whose SHA-256 (`sha256`) the access-log entry `log_seq` carries."""

    __tablename__ = "bookmarks"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    note: Mapped[str] = mapped_column(Text, nullable=False)
    author: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    log_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)


class SegmentObject(Base):
    """A sealed segment's copy in the object store (storage.object): uploaded, its SHA-256 checked
    against the index, locked until `retain_until`. The local file is only a cache once this row exists."""

    __tablename__ = "segment_objects"

    segment_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    key: Mapped[str] = mapped_column(String(1024), nullable=False)
    #: The object version written (the bucket is versioned: object lock requires it).
    version_id: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    #: The SHA-256 (hex) the store confirmed for the object; equal to the segment's when it was uploaded.
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    lock_mode: Mapped[str] = mapped_column(String(16), nullable=False)
    retain_until: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    #: Whether a legal hold is set on the object (it follows the evidence holds covering the segment).
    legal_hold: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
