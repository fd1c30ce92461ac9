"""Segment objects: each sealed segment's copy in the object store (storage.object), with its key, version,
checked SHA-256, object lock and legal hold.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op
from core.db import UTCDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "segment_objects",
        sa.Column("segment_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("key", sa.String(1024), nullable=False),
        sa.Column("version_id", sa.String(1024), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("uploaded_at", UTCDateTime(), nullable=False),
        sa.Column("lock_mode", sa.String(16), nullable=False),
        sa.Column("retain_until", UTCDateTime(), nullable=False),
        sa.Column("legal_hold", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_segment_objects_sha256", "segment_objects", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_segment_objects_sha256", table_name="segment_objects")
    op.drop_table("segment_objects")
