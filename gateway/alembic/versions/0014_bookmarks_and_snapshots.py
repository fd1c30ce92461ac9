"""Bookmarks on recordings (a moment or a range with a note; insert-only, hashed and logged) and
snapshots (JPEGs taken by the server from the live stream or a recording; a snapshot changes only
to be attached to a case, once).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op


revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# Snapshot columns that never change; only case_id may be set, and only from NULL.
SNAPSHOT_FIXED = ("id", "camera_id", "at", "source", "taken_by", "taken_at", "sha256", "bytes", "path")

PG_SNAPSHOT_FUNCTION = """
CREATE OR REPLACE FUNCTION pantau_snapshot_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.case_id IS NULL AND ({same}) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'snapshots are immutable (but for attaching one to a case once): % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def _same(old: str, new: str) -> str:
    return " AND ".join(f"{old}.{c} IS NOT DISTINCT FROM {new}.{c}" for c in SNAPSHOT_FIXED)


def upgrade() -> None:
    op.create_table(
        "bookmarks",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("log_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookmarks")),
    )
    op.create_index(op.f("ix_bookmarks_camera_id"), "bookmarks", ["camera_id"])
    op.create_index(op.f("ix_bookmarks_start"), "bookmarks", ["start"])
    op.create_index(op.f("ix_bookmarks_created_at"), "bookmarks", ["created_at"])
    op.create_table(
        "snapshots",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("taken_by", sa.String(length=64), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshots")),
    )
    op.create_index(op.f("ix_snapshots_camera_id"), "snapshots", ["camera_id"])
    op.create_index(op.f("ix_snapshots_case_id"), "snapshots", ["case_id"])
    if op.get_bind().dialect.name == "postgresql":
        # pantau_refuse_record_change() is 0008's: the desk records' insert-only rule.
        op.execute("CREATE TRIGGER bookmarks_no_change BEFORE UPDATE OR DELETE ON bookmarks "
                   "FOR EACH ROW EXECUTE FUNCTION pantau_refuse_record_change()")
        op.execute("CREATE TRIGGER bookmarks_no_truncate BEFORE TRUNCATE ON bookmarks "
                   "FOR EACH STATEMENT EXECUTE FUNCTION pantau_refuse_record_change()")
        op.execute("ALTER TABLE bookmarks ENABLE ALWAYS TRIGGER bookmarks_no_change")
        op.execute("ALTER TABLE bookmarks ENABLE ALWAYS TRIGGER bookmarks_no_truncate")
        op.execute(PG_SNAPSHOT_FUNCTION.format(same=_same("OLD", "NEW")))
        op.execute("CREATE TRIGGER snapshots_no_change BEFORE UPDATE OR DELETE ON snapshots "
                   "FOR EACH ROW EXECUTE FUNCTION pantau_snapshot_change()")
        op.execute("ALTER TABLE snapshots ENABLE ALWAYS TRIGGER snapshots_no_change")
    else:
        op.execute("CREATE TRIGGER bookmarks_no_update BEFORE UPDATE ON bookmarks "
                   "BEGIN SELECT RAISE(ABORT, 'bookmarks are immutable: UPDATE refused'); END")
        op.execute("CREATE TRIGGER bookmarks_no_delete BEFORE DELETE ON bookmarks "
                   "BEGIN SELECT RAISE(ABORT, 'bookmarks are immutable: DELETE refused'); END")
        changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in SNAPSHOT_FIXED)
        op.execute(f"CREATE TRIGGER snapshots_no_update BEFORE UPDATE ON snapshots "
                   f"WHEN OLD.case_id IS NOT NULL OR {changed} "
                   "BEGIN SELECT RAISE(ABORT, 'snapshots are immutable: UPDATE refused'); END")
        op.execute("CREATE TRIGGER snapshots_no_delete BEFORE DELETE ON snapshots "
                   "BEGIN SELECT RAISE(ABORT, 'snapshots are immutable: DELETE refused'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS snapshots_no_change ON snapshots")
        op.execute("DROP FUNCTION IF EXISTS pantau_snapshot_change()")
    op.drop_index(op.f("ix_snapshots_case_id"), table_name="snapshots")
    op.drop_index(op.f("ix_snapshots_camera_id"), table_name="snapshots")
    op.drop_table("snapshots")
    op.drop_index(op.f("ix_bookmarks_created_at"), table_name="bookmarks")
    op.drop_index(op.f("ix_bookmarks_start"), table_name="bookmarks")
    op.drop_index(op.f("ix_bookmarks_camera_id"), table_name="bookmarks")
    op.drop_table("bookmarks")
