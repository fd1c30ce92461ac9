"""Segments say what was done to the camera's sound (the codec it sent when the recorder
transcoded it) and which of the camera's streams they hold (main or sub).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recording_segments") as batch:
        batch.add_column(sa.Column("audio_source_codec", sa.String(32), nullable=True))
        batch.add_column(sa.Column("stream", sa.String(8), nullable=False, server_default="main"))


def downgrade() -> None:
    with op.batch_alter_table("recording_segments") as batch:
        batch.drop_column("stream")
        batch.drop_column("audio_source_codec")
