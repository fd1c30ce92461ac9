"""Cases: their current state (a closed case refused any change by trigger), their insert-only
events, the holds they placed, their berita acara, and the numbering of the minutes.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op
from core.db import UTCDateTime


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


RECORD_TABLES = ("case_events", "case_holds", "berita_acara")

# Insert-only tables reuse 0008's function; `cases` changes until it is closed, never after, and is
# never deleted.
PG_CLOSED = """
CREATE OR REPLACE FUNCTION pantau_refuse_closed_case_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR OLD.state = 'closed' THEN
        RAISE EXCEPTION 'a closed case is immutable and no case is deleted: % on % refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
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


PG_CASES = [
    "CREATE TRIGGER cases_closed BEFORE UPDATE OR DELETE ON cases "
    "FOR EACH ROW EXECUTE FUNCTION pantau_refuse_closed_case_change()",
    "CREATE TRIGGER cases_no_truncate BEFORE TRUNCATE ON cases "
    "FOR EACH STATEMENT EXECUTE FUNCTION pantau_refuse_record_change()",
    "ALTER TABLE cases ENABLE ALWAYS TRIGGER cases_closed",
    "ALTER TABLE cases ENABLE ALWAYS TRIGGER cases_no_truncate",
]


def _sqlite_triggers(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        "BEGIN SELECT RAISE(ABORT, 'case records are immutable: UPDATE refused'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        "BEGIN SELECT RAISE(ABORT, 'case records are immutable: DELETE refused'); END",
    ]


SQLITE_CASES = [
    "CREATE TRIGGER cases_closed BEFORE UPDATE ON cases WHEN OLD.state = 'closed' "
    "BEGIN SELECT RAISE(ABORT, 'a closed case is immutable: UPDATE refused'); END",
    "CREATE TRIGGER cases_no_delete BEFORE DELETE ON cases "
    "BEGIN SELECT RAISE(ABORT, 'no case is deleted: DELETE refused'); END",
]


def upgrade() -> None:

    op.create_table("case_numbers",
    sa.Column("period", sa.String(length=16), nullable=False),
    sa.Column("last", sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint("period", name=op.f("pk_case_numbers"))
    )

    op.create_table("cases",
    sa.Column("id", sa.String(length=36), nullable=False),
    sa.Column("kind", sa.String(length=16), nullable=False),
    sa.Column("state", sa.String(length=16), nullable=False),
    sa.Column("severity", sa.String(length=16), nullable=False),
    sa.Column("title", sa.String(length=200), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("cameras", sa.Text(), nullable=False),
    sa.Column("playbook", sa.String(length=64), nullable=True),
    sa.Column("category", sa.String(length=64), nullable=True),
    sa.Column("channel", sa.String(length=16), nullable=True),
    sa.Column("location", sa.String(length=500), nullable=False),
    sa.Column("reporter_name", sa.String(length=200), nullable=True),
    sa.Column("reporter_contact", sa.String(length=200), nullable=True),
    sa.Column("opened_at", UTCDateTime(), nullable=False),
    sa.Column("opened_by", sa.String(length=64), nullable=False),
    sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
    sa.Column("forwarded_at", UTCDateTime(), nullable=True),
    sa.Column("resolved_at", UTCDateTime(), nullable=True),
    sa.Column("closed_at", UTCDateTime(), nullable=True),
    sa.Column("escalations", sa.Integer(), nullable=False),
    sa.Column("last_escalated_at", UTCDateTime(), nullable=True),
    sa.Column("number", sa.String(length=64), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
    sa.UniqueConstraint("number", name=op.f("uq_cases_number"))
    )
    op.create_index(op.f("ix_cases_kind"), "cases", ["kind"])
    op.create_index(op.f("ix_cases_opened_at"), "cases", ["opened_at"])
    op.create_index(op.f("ix_cases_state"), "cases", ["state"])


    op.create_table("berita_acara",
    sa.Column("case_id", sa.String(length=36), nullable=False),
    sa.Column("number", sa.String(length=64), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("signed_by", sa.String(length=64), nullable=False),
    sa.Column("pdf", sa.LargeBinary(), nullable=False),
    sa.Column("pdf_sha256", sa.String(length=64), nullable=False),
    sa.Column("signature", sa.Text(), nullable=False),
    sa.Column("key_id", sa.String(length=32), nullable=False),
    sa.Column("log_seq", sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_berita_acara_case_id_cases")),
    sa.PrimaryKeyConstraint("case_id", name=op.f("pk_berita_acara")),
    sa.UniqueConstraint("number", name=op.f("uq_berita_acara_number"))
    )

    op.create_table("case_events",
    sa.Column("id", sa.String(length=36), nullable=False),
    sa.Column("case_id", sa.String(length=36), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("actor", sa.String(length=64), nullable=False),
    sa.Column("kind", sa.String(length=32), nullable=False),
    sa.Column("content", sa.Text(), nullable=False),
    sa.Column("sha256", sa.String(length=64), nullable=False),
    sa.Column("log_seq", sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_events_case_id_cases")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_case_events"))
    )
    op.create_index(op.f("ix_case_events_case_id"), "case_events", ["case_id"])


    op.create_table("case_holds",
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("case_id", sa.String(length=36), nullable=False),
    sa.Column("hold_id", sa.Integer(), nullable=False),
    sa.Column("camera", sa.String(length=64), nullable=False),
    sa.Column("start", UTCDateTime(), nullable=False),
    sa.Column("end", UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_holds_case_id_cases")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_case_holds"))
    )
    op.create_index(op.f("ix_case_holds_case_id"), "case_holds", ["case_id"])

    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_CLOSED)
        for sql in [*PG_CASES, *(q for t in RECORD_TABLES for q in _pg_triggers(t))]:
            op.execute(sql)
    else:
        for sql in [*SQLITE_CASES, *(q for t in RECORD_TABLES for q in _sqlite_triggers(t))]:
            op.execute(sql)


def downgrade() -> None:
    op.drop_index(op.f("ix_case_holds_case_id"), table_name="case_holds")

    op.drop_table("case_holds")
    op.drop_index(op.f("ix_case_events_case_id"), table_name="case_events")

    op.drop_table("case_events")
    op.drop_table("berita_acara")
    op.drop_index(op.f("ix_cases_state"), table_name="cases")
    op.drop_index(op.f("ix_cases_opened_at"), table_name="cases")
    op.drop_index(op.f("ix_cases_kind"), table_name="cases")

    op.drop_table("cases")
    op.drop_table("case_numbers")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS pantau_refuse_closed_case_change()")
