"""Evidence export jobs, copies on dispositions (asked for, approved, used), views counted per
camera, and the used one-time signed links.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op
from core.db import UTCDateTime


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("playback_requests") as batch:
        batch.add_column(sa.Column("copies", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("copies_approved", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("dispositions") as batch:
        batch.add_column(sa.Column("copies", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("copies_used", sa.Integer(), nullable=False, server_default="0"))

    op.create_table(
        "disposition_views",
        sa.Column("token_id", sa.String(length=40), nullable=False),
        sa.Column("camera", sa.String(length=64), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["token_id"], ["dispositions.token_id"],
                                name=op.f("fk_disposition_views_token_id_dispositions")),
        sa.PrimaryKeyConstraint("token_id", "camera", name=op.f("pk_disposition_views")),
    )
    # Tokens issued before: views were counted over all cameras, so each camera starts from that
    # count (never more views than before the upgrade).
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT d.token_id, d.views_used, r.cameras FROM dispositions d "
        "JOIN playback_requests r ON r.id = d.request_id"
    )).all()
    views = sa.table("disposition_views", sa.column("token_id"), sa.column("camera"), sa.column("used"))
    backfill = [{"token_id": t, "camera": c, "used": used} for t, used, cams in rows for c in cams.split(",") if c]
    if backfill:
        op.bulk_insert(views, backfill)

    op.create_table(
        "export_jobs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("cameras", sa.Text(), nullable=False),
        sa.Column("window_start", UTCDateTime(), nullable=False),
        sa.Column("window_end", UTCDateTime(), nullable=False),
        sa.Column("formats", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("case_id", sa.String(length=40), nullable=True),
        sa.Column("request_id", sa.String(length=40), nullable=True),
        sa.Column("token_id", sa.String(length=40), nullable=True),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("requester_role", sa.String(length=16), nullable=True),
        sa.Column("via", sa.String(length=8), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("bytes_total", sa.BigInteger(), nullable=False),
        sa.Column("bytes_done", sa.BigInteger(), nullable=False),
        sa.Column("segments_total", sa.Integer(), nullable=False),
        sa.Column("segments_done", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("result_name", sa.String(length=200), nullable=True),
        sa.Column("result_size", sa.BigInteger(), nullable=True),
        sa.Column("result_sha256", sa.String(length=64), nullable=True),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=True),
        sa.Column("log_seq", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.Column("downloads", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_jobs")),
    )
    for column in ("state", "case_id", "request_id", "requested_by", "created_at"):
        op.create_index(op.f(f"ix_export_jobs_{column}"), "export_jobs", [column], unique=False)

    op.create_table(
        "link_uses",
        sa.Column("link_id", sa.String(length=40), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=False),
        sa.Column("used_by", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("link_id", name=op.f("pk_link_uses")),
    )


def downgrade() -> None:
    op.drop_table("link_uses")
    for column in ("state", "case_id", "request_id", "requested_by", "created_at"):
        op.drop_index(op.f(f"ix_export_jobs_{column}"), table_name="export_jobs")
    op.drop_table("export_jobs")
    op.drop_table("disposition_views")
    with op.batch_alter_table("dispositions") as batch:
        batch.drop_column("copies_used")
        batch.drop_column("copies")
    with op.batch_alter_table("approvals") as batch:
        batch.drop_column("copies_approved")
    with op.batch_alter_table("playback_requests") as batch:
        batch.drop_column("copies")
