"""Gaps say which of the camera's streams they interrupt (main or sub): a camera that records both
keeps a gap list per stream, as it keeps a hash chain per stream (recording_segments.stream, 0011).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op


revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recording_gaps") as batch:
        batch.add_column(sa.Column("stream", sa.String(8), nullable=False, server_default="main"))


def downgrade() -> None:
    with op.batch_alter_table("recording_gaps") as batch:
        batch.drop_column("stream")
