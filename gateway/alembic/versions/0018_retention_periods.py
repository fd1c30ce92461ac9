"""Retention periods: the retention in force for each camera from a time on, so a segment is kept at
least as long as the retention in force when it was recorded (shortening applies to what comes after).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op
from core.db import UTCDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retention_periods",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("days", sa.Float(), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_retention_periods_camera_id", "retention_periods", ["camera_id"])
    # Insert-only, like the other records nobody may change: a retention once in force stays on record.
    if op.get_bind().dialect.name == "postgresql":
        # pantau_refuse_record_change() is 0008's.
        op.execute("CREATE TRIGGER retention_periods_no_change BEFORE UPDATE OR DELETE ON retention_periods "
                   "FOR EACH ROW EXECUTE FUNCTION pantau_refuse_record_change()")
        op.execute("ALTER TABLE retention_periods ENABLE ALWAYS TRIGGER retention_periods_no_change")
    else:
        op.execute("CREATE TRIGGER retention_periods_no_update BEFORE UPDATE ON retention_periods "
                   "BEGIN SELECT RAISE(ABORT, 'retention periods are records: UPDATE refused'); END")
        op.execute("CREATE TRIGGER retention_periods_no_delete BEFORE DELETE ON retention_periods "
                   "BEGIN SELECT RAISE(ABORT, 'retention periods are records: DELETE refused'); END")


def downgrade() -> None:
    op.drop_index("ix_retention_periods_camera_id", table_name="retention_periods")
    op.drop_table("retention_periods")
