"""The PostgreSQL role the gateway runs as: INSERT and SELECT only on the access log and on the
records the SOP asks for (the shift desk's tables).

Run migrations as the owner of the schema; run the gateway as `pantau_app`. The owner (or
a superuser) can still disable triggers, which is why checkpoints go to a witness too.

    CREATE ROLE pantau_app LOGIN PASSWORD '...';   -- once, as a superuser
    -- then, as the owner, after `pantau migrate`:
    GRANT ... (the statements of app_role_grants())
"""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

LOG_TABLES = ("access_log", "access_log_checkpoints")
#: Insert-only records of other packages (named here: policy knows no other package); a trigger
#: refuses changes too (alembic 0008), the grant keeps the app role from disabling it.
RECORD_TABLES = ("desk_shifts", "desk_checks", "desk_patrols", "desk_handovers", "desk_acceptances", "desk_amendments",
                 "case_events", "case_holds", "berita_acara")
_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def app_role_grants(role: str = "pantau_app", schema: str = "public") -> list[str]:
    """SQL giving `role` normal rights on every table, but only INSERT and SELECT on the log and records."""
    if not _ROLE.fullmatch(role) or not _ROLE.fullmatch(schema):
        raise ValueError("role and schema must be plain lower-case identifiers")
    tables = ", ".join(f"{schema}.{t}" for t in (*LOG_TABLES, *RECORD_TABLES))
    return [
        f"GRANT USAGE ON SCHEMA {schema} TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
        f"REVOKE ALL ON {tables} FROM {role}",
        f"GRANT SELECT, INSERT ON {tables} TO {role}",
    ]


async def grant_app_role(conn: AsyncConnection, role: str = "pantau_app", schema: str = "public") -> None:
    """Apply app_role_grants() on a connection of the schema owner; the role must exist."""
    for sql in app_role_grants(role, schema):
        await conn.execute(text(sql))
