"""ONVIF camera events.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op
from core.db import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "camera_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("topic", sa.String(512), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_camera_events")),
    )
    op.create_index("ix_camera_events_camera_id_at", "camera_events", ["camera_id", "at"])
    op.create_index(op.f("ix_camera_events_at"), "camera_events", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_camera_events_at"), table_name="camera_events")
    op.drop_index("ix_camera_events_camera_id_at", table_name="camera_events")
    op.drop_table("camera_events")
