"""Evidence export jobs (the export_jobs table): one row per job, updated as it runs (progress),
never deleted (its file is; `deleted_at` says when)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Integer, String, Text
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # done, and its file deleted after recording.export_keep_h


class ExportJob(Base):
    __tablename__ = "export_jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    cameras: Mapped[str] = mapped_column(Text, nullable=False)  # comma-separated ids
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    formats: Mapped[str] = mapped_column(String(32), nullable=False)  # comma-separated: bundle, mp4
    #: The decision let the copy carry the recorded sound (False: no_audio, the MP4s are video only).
    audio: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default=sa_true())
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    case_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    request_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    token_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # Who asked: a signed-in user (role set) or a disposition's grantee (via token, role None).
    requested_by: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    requester_role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    via: Mapped[str] = mapped_column(String(8), nullable=False)  # user | token
    client: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    bytes_total: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    bytes_done: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    segments_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    segments_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    result_name: Mapped[str | None] = mapped_column(String(200), nullable=True)  # under data_dir/exports
    result_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    result_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    manifest_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    log_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # the export's access-log entry
    error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    downloads: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class SnapshotSource(enum.StrEnum):
    LIVE = "live"  # the hub's newest frame (its cached GOP decoded forward)
    RECORDING = "recording"  # the recorded frame at the asked moment


class Snapshot(Base):
    """A JPEG the server took of a camera, kept read-only under data_dir/snapshots with its SHA-256;
    never changed but to be attached to a case (once)."""

    __tablename__ = "snapshots"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    #: The moment the picture shows (the live frame's arrival, or the recorded frame's time).
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    taken_by: Mapped[str] = mapped_column(String(64), nullable=False)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    #: Relative to data_dir/snapshots.
    path: Mapped[str] = mapped_column(String(512), nullable=False)
    case_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
