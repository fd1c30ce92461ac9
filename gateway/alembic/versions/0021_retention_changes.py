"""Retention changes: shortenings of a camera's retention asked through the API, pending until a
second person approves or rejects them (fleet/retentionchanges.py).

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op
from core.db import UTCDateTime

revision = "0021"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retention_changes",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("from_days", sa.Float(), nullable=False),
        sa.Column("to_days", sa.Float(), nullable=True),
        sa.Column("effective_days", sa.Float(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(128), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("note", sa.String(1000), nullable=False),
    )
    op.create_index("ix_retention_changes_camera_id", "retention_changes", ["camera_id"])


def downgrade() -> None:
    op.drop_index("ix_retention_changes_camera_id", table_name="retention_changes")
    op.drop_table("retention_changes")
