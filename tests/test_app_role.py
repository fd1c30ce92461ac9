"""PostgreSQL in production: the owner migrates, the gateway runs as a role that can only append to the log."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text

from core.db import make_engine
from gateway.migrations import upgrade
from tests.fixtures_db import PG_ADMIN
from tests.gatewayutil import make_settings, running_gateway

ROOT = Path(__file__).resolve().parent.parent


async def _admin(sql: str, url: str = PG_ADMIN) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def test_gateway_runs_as_app_role_and_cannot_alter_the_log(tmp_path: Path, empty_pg_url: str) -> None:
    role = f"pantau_app_t{os.getpid()}"
    await _admin(f"DROP ROLE IF EXISTS {role}")
    await _admin(f"CREATE ROLE {role} LOGIN PASSWORD 'app-pass'")
    try:
        await asyncio.to_thread(upgrade, empty_pg_url)  # as the owner
        env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "PANTAU_DATABASE__URL": empty_pg_url}
        result = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "gateway", "grant-app-role", "--role", role],
            cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env,
        )
        assert result.returncode == 0, result.stderr
        host_db = empty_pg_url.split("@", 1)[1]
        app_url = f"postgresql+asyncpg://{role}:app-pass@{host_db}"
        settings = make_settings(tmp_path, app_url, database={"url": app_url, "migrate_on_start": False})
        async with running_gateway(settings) as client:
            await client.sign_in("admin", client.admin_password())  # appends to the log as the role
            assert client.gateway.services is not None
            await client.gateway.services.users.add("ops", "operator", "ops-password-1")
            ops = await client.sign_in("ops", "ops-password-1")
            async with client.http.post(client.url("/api/v1/shifts"), json={},
                                        headers={"Authorization": f"Bearer {ops}"}) as resp:
                assert resp.status == 201, await resp.text()  # the role inserts shift records
        engine = make_engine(app_url)
        try:
            # The records the SOP asks for are as protected as the log (alembic 0008, dbrole.RECORD_TABLES).
            for sql in ("UPDATE access_log SET payload = 'x'", "DELETE FROM access_log", "TRUNCATE access_log",
                        "ALTER TABLE access_log DISABLE TRIGGER ALL", "UPDATE desk_shifts SET operator = 'x'",
                        "DELETE FROM desk_shifts", "TRUNCATE desk_shifts CASCADE",
                        "ALTER TABLE desk_handovers DISABLE TRIGGER ALL"):
                async with engine.connect() as conn:
                    with pytest.raises(Exception, match="permission denied|append-only|must be owner"):
                        await conn.execute(text(sql))
            async with engine.connect() as conn:
                count = (await conn.execute(text("SELECT count(*) FROM access_log"))).scalar_one()
            assert count >= 3  # config change, admin created, sign-in
        finally:
            await engine.dispose()
    finally:
        await _admin(f"DROP OWNED BY {role} CASCADE", empty_pg_url)  # grants live in that database
        await _admin(f"DROP ROLE IF EXISTS {role}")
