"""Disposition workflow: letters, playback requests, approvals, dispositions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op
from core.db import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "letters",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(256), nullable=False),
        sa.Column("uploaded_by", sa.String(64), nullable=False),
        sa.Column("uploaded_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_letters")),
    )
    op.create_table(
        "playback_requests",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("requester", sa.String(64), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("party_name", sa.String(200), nullable=False),
        sa.Column("party_organisation", sa.String(200), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("letter_number", sa.String(100), nullable=False),
        sa.Column("letter_date", sa.Date(), nullable=False),
        sa.Column("letter_sha256", sa.String(64), nullable=False),
        sa.Column("cameras", sa.Text(), nullable=False),
        sa.Column("window_start", UTCDateTime(), nullable=False),
        sa.Column("window_end", UTCDateTime(), nullable=False),
        sa.Column("max_views", sa.Integer(), nullable=False),
        sa.Column("valid_days", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["users.id"], name=op.f("fk_playback_requests_requester_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["letter_sha256"], ["letters.sha256"], name=op.f("fk_playback_requests_letter_sha256_letters")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playback_requests")),
    )
    op.create_index(op.f("ix_playback_requests_requester_id"), "playback_requests", ["requester_id"])
    op.create_index(op.f("ix_playback_requests_status"), "playback_requests", ["status"])
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(40), nullable=False),
        sa.Column("approver", sa.String(64), nullable=False),
        sa.Column("approver_id", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(8), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["playback_requests.id"], name=op.f("fk_approvals_request_id_playback_requests")
        ),
        sa.ForeignKeyConstraint(["approver_id"], ["users.id"], name=op.f("fk_approvals_approver_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
        sa.UniqueConstraint("request_id", "approver_id", name="uq_approvals_request_approver"),
    )
    op.create_index(op.f("ix_approvals_request_id"), "approvals", ["request_id"])
    op.create_table(
        "dispositions",
        sa.Column("token_id", sa.String(40), nullable=False),
        sa.Column("request_id", sa.String(40), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("claims", sa.Text(), nullable=False),
        sa.Column("max_views", sa.Integer(), nullable=False),
        sa.Column("views_used", sa.Integer(), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("not_before", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("last_view_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(64), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["playback_requests.id"], name=op.f("fk_dispositions_request_id_playback_requests")
        ),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_dispositions")),
        sa.UniqueConstraint("request_id", name=op.f("uq_dispositions_request_id")),
    )


def downgrade() -> None:
    op.drop_table("dispositions")
    op.drop_table("approvals")
    op.drop_table("playback_requests")
    op.drop_table("letters")
