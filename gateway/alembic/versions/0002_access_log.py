"""Access log: append-only entries and checkpoints, refused UPDATE/DELETE/TRUNCATE by trigger.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op
from core.db import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("access_log", "access_log_checkpoints")

# ENABLE ALWAYS: the triggers fire even under session_replication_role = replica, so only
# an explicit ALTER TABLE ... DISABLE TRIGGER by the table owner or a superuser gets past them.
PG_FUNCTION = """
CREATE OR REPLACE FUNCTION pantau_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the access log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def _pg_triggers(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION pantau_refuse_change()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION pantau_refuse_change()",
        f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_change",
        f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_truncate",
    ]


def _sqlite_triggers(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        "BEGIN SELECT RAISE(ABORT, 'the access log is append-only: UPDATE refused'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        "BEGIN SELECT RAISE(ABORT, 'the access log is append-only: DELETE refused'); END",
    ]


def upgrade() -> None:
    op.create_table(
        "access_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_access_log")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_access_log_prev_hash")),
    )
    op.create_index(op.f("ix_access_log_created_at"), "access_log", ["created_at"])
    op.create_table(
        "access_log_checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.String(64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_access_log_checkpoints")),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
        for table in TABLES:
            for sql in _pg_triggers(table):
                op.execute(sql)
    else:
        for table in TABLES:
            for sql in _sqlite_triggers(table):
                op.execute(sql)


def downgrade() -> None:
    # Dropping a table is not refused by the row/TRUNCATE triggers; the owner may undo the migration.
    op.drop_table("access_log_checkpoints")
    op.drop_index(op.f("ix_access_log_created_at"), table_name="access_log")
    op.drop_table("access_log")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS pantau_refuse_change()")
