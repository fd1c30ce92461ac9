"""Nodes and camera leases (several `pantau serve` processes on one PostgreSQL), and the lease
epoch a segment was written under (NULL: a single node, no lease).

The tables are created on SQLite too, where they stay empty: SQLite serves one process and the
config refuses cluster.enabled there.

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op
from core.db import UTCDateTime

revision = "0017"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("node_id", sa.String(128), primary_key=True),
        sa.Column("url", sa.String(512), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=False),
        sa.Column("stopped_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "camera_leases",
        sa.Column("camera_id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at", UTCDateTime(), nullable=False),
        sa.Column("renewed_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_camera_leases_owner", "camera_leases", ["owner"])
    with op.batch_alter_table("recording_segments") as batch:
        batch.add_column(sa.Column("lease_epoch", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recording_segments") as batch:
        batch.drop_column("lease_epoch")
    op.drop_index("ix_camera_leases_owner", table_name="camera_leases")
    op.drop_table("camera_leases")
    op.drop_table("nodes")
