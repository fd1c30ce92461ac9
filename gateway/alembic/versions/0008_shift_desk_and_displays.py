"""The shift desk's records (insert-only by trigger, like the access log) and enrolled wall displays.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op
from core.db import UTCDateTime


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


RECORD_TABLES = ("desk_shifts", "desk_checks", "desk_patrols", "desk_handovers", "desk_acceptances", "desk_amendments")

# A record the SOP asks for is never changed or deleted; a correction is a new record. As for the
# access log (0002), ENABLE ALWAYS keeps the triggers on under session_replication_role = replica.
PG_FUNCTION = """
CREATE OR REPLACE FUNCTION pantau_refuse_record_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'shift records are immutable: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def _pg_triggers(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION pantau_refuse_record_change()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION pantau_refuse_record_change()",
        f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_change",
        f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_truncate",
    ]


def _sqlite_triggers(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        "BEGIN SELECT RAISE(ABORT, 'shift records are immutable: UPDATE refused'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        "BEGIN SELECT RAISE(ABORT, 'shift records are immutable: DELETE refused'); END",
    ]


def upgrade() -> None:

    op.create_table("desk_shifts",
    sa.Column("id", sa.String(length=36), nullable=False),
    sa.Column("operator", sa.String(length=64), nullable=False),
    sa.Column("opened_at", UTCDateTime(), nullable=False),
    sa.Column("slot", sa.String(length=64), nullable=True),
    sa.Column("planned_start", UTCDateTime(), nullable=True),
    sa.Column("planned_end", UTCDateTime(), nullable=True),
    sa.Column("content", sa.Text(), nullable=False),
    sa.Column("sha256", sa.String(length=64), nullable=False),
    sa.Column("log_seq", sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_shifts"))
    )
    op.create_index(op.f("ix_desk_shifts_opened_at"), "desk_shifts", ["opened_at"])
    op.create_index(op.f("ix_desk_shifts_operator"), "desk_shifts", ["operator"])


    op.create_table("displays",
    sa.Column("id", sa.String(length=36), nullable=False),
    sa.Column("name", sa.String(length=64), nullable=False),
    sa.Column("token_sha256", sa.String(length=64), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(length=64), nullable=False),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    sa.Column("revoked_by", sa.String(length=64), nullable=True),
    sa.Column("revoke_reason", sa.String(length=512), nullable=False),
    sa.Column("last_used_at", UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_displays")),
    sa.UniqueConstraint("name", name=op.f("uq_displays_name")),
    sa.UniqueConstraint("token_sha256", name=op.f("uq_displays_token_sha256"))
    )

    op.create_table("desk_checks",
    sa.Column("id", sa.String(length=36), nullable=False),
    sa.Column("shift_id", sa.String(length=36), nullable=False),
    sa.Column("operator", sa.String(length=64), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("content", sa.Text(), nullable=False),
    sa.Column("sha256", sa.String(length=64), nullable=False),
    sa.Column("log_seq", sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(["shift_id"], ["desk_shifts.id"], name=op.f("fk_desk_checks_shift_id_desk_shifts")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_checks"))
    )
    op.create_index(op.f("ix_desk_checks_at"), "desk_checks", ["at"])
    op.create_index(op.f("ix_desk_checks_shift_id"), "desk_checks", ["shift_id"])


    op.create_table("desk_handovers",
    sa.Column("id", sa.String(length=36), nullable=False),
    sa.Column("shift_id", sa.String(length=36), nullable=False),
    sa.Column("operator", sa.String(length=64), nullable=False),
    sa.Column("filed_at", UTCDateTime(), nullable=False),
    sa.Column("content", sa.Text(), nullable=False),
    sa.Column("sha256", sa.String(length=64), nullable=False),
    sa.Column("log_seq", sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(["shift_id"], ["desk_shifts.id"], name=op.f("fk_desk_handovers_shift_id_desk_shifts")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_handovers")),
    sa.UniqueConstraint("shift_id", name=op.f("uq_desk_handovers_shift_id"))
    )
    op.create_index(op.f("ix_desk_handovers_filed_at"), "desk_handovers", ["filed_at"])


    op.create_table("desk_patrols",
    sa.Column("id", sa.String(length=36), nullable=False),
    sa.Column("shift_id", sa.String(length=36), nullable=False),
    sa.Column("operator", sa.String(length=64), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("ended_at", UTCDateTime(), nullable=False),
    sa.Column("content", sa.Text(), nullable=False),
    sa.Column("sha256", sa.String(length=64), nullable=False),
    sa.Column("log_seq", sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(["shift_id"], ["desk_shifts.id"], name=op.f("fk_desk_patrols_shift_id_desk_shifts")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_patrols"))
    )
    op.create_index(op.f("ix_desk_patrols_shift_id"), "desk_patrols", ["shift_id"])
    op.create_index(op.f("ix_desk_patrols_started_at"), "desk_patrols", ["started_at"])


    op.create_table("desk_acceptances",
    sa.Column("id", sa.String(length=36), nullable=False),
    sa.Column("handover_id", sa.String(length=36), nullable=False),
    sa.Column("operator", sa.String(length=64), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("content", sa.Text(), nullable=False),
    sa.Column("sha256", sa.String(length=64), nullable=False),
    sa.Column("pdf", sa.LargeBinary(), nullable=False),
    sa.Column("pdf_sha256", sa.String(length=64), nullable=False),
    sa.Column("log_seq", sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(["handover_id"], ["desk_handovers.id"], name=op.f("fk_desk_acceptances_handover_id_desk_handovers")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_acceptances")),
    sa.UniqueConstraint("handover_id", name=op.f("uq_desk_acceptances_handover_id"))
    )

    op.create_table("desk_amendments",
    sa.Column("id", sa.String(length=36), nullable=False),
    sa.Column("handover_id", sa.String(length=36), nullable=False),
    sa.Column("operator", sa.String(length=64), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("content", sa.Text(), nullable=False),
    sa.Column("sha256", sa.String(length=64), nullable=False),
    sa.Column("log_seq", sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(["handover_id"], ["desk_handovers.id"], name=op.f("fk_desk_amendments_handover_id_desk_handovers")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_amendments"))
    )
    op.create_index(op.f("ix_desk_amendments_handover_id"), "desk_amendments", ["handover_id"])

    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for table in RECORD_TABLES:
            for sql in _pg_triggers(table):
                op.execute(sql)
    else:
        for table in RECORD_TABLES:
            for sql in _sqlite_triggers(table):
                op.execute(sql)


def downgrade() -> None:
    op.drop_index(op.f("ix_desk_amendments_handover_id"), table_name="desk_amendments")

    op.drop_table("desk_amendments")
    op.drop_table("desk_acceptances")
    op.drop_index(op.f("ix_desk_patrols_started_at"), table_name="desk_patrols")
    op.drop_index(op.f("ix_desk_patrols_shift_id"), table_name="desk_patrols")

    op.drop_table("desk_patrols")
    op.drop_index(op.f("ix_desk_handovers_filed_at"), table_name="desk_handovers")

    op.drop_table("desk_handovers")
    op.drop_index(op.f("ix_desk_checks_shift_id"), table_name="desk_checks")
    op.drop_index(op.f("ix_desk_checks_at"), table_name="desk_checks")

    op.drop_table("desk_checks")
    op.drop_table("displays")
    op.drop_index(op.f("ix_desk_shifts_operator"), table_name="desk_shifts")
    op.drop_index(op.f("ix_desk_shifts_opened_at"), table_name="desk_shifts")

    op.drop_table("desk_shifts")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS pantau_refuse_record_change()")
