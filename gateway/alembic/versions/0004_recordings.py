"""Recordings: sealed segments, gaps, evidence holds, deletions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op
from core.db import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recording_segments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("start", UTCDateTime(), nullable=False),
        sa.Column("end", UTCDateTime(), nullable=False),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("prev_sha256", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("codec", sa.String(32), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("audio_codec", sa.String(32), nullable=True),
        sa.Column("drift_ms", sa.Float(), nullable=False),
        sa.Column("timestamps", sa.Text(), nullable=False),
        sa.Column("sealed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_segments")),
        sa.UniqueConstraint("path", name=op.f("uq_recording_segments_path")),
        sa.UniqueConstraint("sha256", name=op.f("uq_recording_segments_sha256")),
    )
    op.create_index("ix_recording_segments_camera_start", "recording_segments", ["camera_id", "start"])
    op.create_table(
        "recording_gaps",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("start", UTCDateTime(), nullable=False),
        sa.Column("end", UTCDateTime(), nullable=True),
        sa.Column("reason", sa.String(256), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_gaps")),
    )
    op.create_index("ix_recording_gaps_camera_start", "recording_gaps", ["camera_id", "start"])
    op.create_table(
        "evidence_holds",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("start", UTCDateTime(), nullable=False),
        sa.Column("end", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.String(1024), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("released_at", UTCDateTime(), nullable=True),
        sa.Column("released_by", sa.String(64), nullable=True),
        sa.Column("release_reason", sa.String(1024), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_holds")),
    )
    op.create_index(op.f("ix_evidence_holds_camera_id"), "evidence_holds", ["camera_id"])
    op.create_table(
        "segment_deletions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("start", UTCDateTime(), nullable=False),
        sa.Column("end", UTCDateTime(), nullable=False),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("prev_sha256", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_deletions")),
    )
    op.create_index(op.f("ix_segment_deletions_camera_id"), "segment_deletions", ["camera_id"])
    op.create_index(op.f("ix_segment_deletions_sha256"), "segment_deletions", ["sha256"])


def downgrade() -> None:
    op.drop_table("segment_deletions")
    op.drop_table("evidence_holds")
    op.drop_index("ix_recording_gaps_camera_start", table_name="recording_gaps")
    op.drop_table("recording_gaps")
    op.drop_index("ix_recording_segments_camera_start", table_name="recording_segments")
    op.drop_table("recording_segments")
