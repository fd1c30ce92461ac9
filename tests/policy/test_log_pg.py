"""On a real PostgreSQL: the app role's grants, and 32 writers in 4 processes never forking the chain."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core.db import make_engine
from policy.audit.cli import verify_database
from policy.audit.dbrole import app_role_grants, grant_app_role
from policy.audit.reader import iter_entries

from .logutil import ORIGIN, event, new_signer, open_log

ROOT = Path(__file__).resolve().parents[2]
APP_ROLE = "pantau_app"
pg_only = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

WORKER = r'''
import asyncio, sys
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from core.db import make_engine
from policy.audit.accesslog import AccessLog
from policy.audit.signednote import NoteSigner
from tests.policy.logutil import ORIGIN, event

async def writer(url, signer, w, n):
    engine = make_engine(url)
    try:
        alog = AccessLog(engine, signer, origin=ORIGIN)
        for i in range(n):
            await alog.record(event(w * 1000 + i))
    finally:
        await engine.dispose()

async def main():
    url, key_pem, proc, writers, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    signer = NoteSigner(ORIGIN, load_pem_private_key(open(key_pem, "rb").read(), None))
    await asyncio.gather(*(writer(url, signer, proc * writers + w, n) for w in range(writers)))

asyncio.run(main())
'''


def as_role(url: str, role: str) -> str:
    return url.replace("://postgres@", f"://{role}@", 1)


async def ensure_app_role(url: str) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", APP_ROLE)
        if not exists:
            try:
                await conn.execute(f"CREATE ROLE {APP_ROLE} LOGIN")
            except asyncpg.DuplicateObjectError:
                pass  # a parallel test run created it
    finally:
        await conn.close()
    engine = make_engine(url)
    try:
        async with engine.begin() as c:
            await grant_app_role(c, APP_ROLE)
    finally:
        await engine.dispose()


def test_grant_sql_is_plain_and_checked() -> None:
    sql = app_role_grants("pantau_app")
    assert any(
        line.startswith("GRANT SELECT, INSERT ON public.access_log, public.access_log_checkpoints, public.desk_shifts,")
        and line.endswith(" TO pantau_app") for line in sql
    ), sql
    with pytest.raises(ValueError):
        app_role_grants("x; DROP TABLE users")


@pg_only
async def test_app_role_can_append_but_not_change(db_url: str) -> None:
    await ensure_app_role(db_url)
    signer = new_signer()
    app_url = as_role(db_url, APP_ROLE)
    async with open_log(app_url, signer) as (alog, engine):
        for i in range(3):
            await alog.record(event(i))
        assert (await alog.checkpoint()) is not None
        for sql in (
            "UPDATE access_log SET payload = 'x'",
            "DELETE FROM access_log",
            "TRUNCATE access_log",
            "UPDATE access_log_checkpoints SET note = 'x'",
            "DELETE FROM access_log_checkpoints",
            "TRUNCATE access_log_checkpoints",
            "ALTER TABLE access_log DISABLE TRIGGER USER",
        ):
            with pytest.raises(DBAPIError, match="permission denied|must be owner"):
                async with engine.begin() as conn:
                    await conn.execute(text(sql))
    assert (await verify_database(db_url, signer, origin=ORIGIN)).ok


@pg_only
async def test_32_writers_in_4_processes_no_fork_no_gap(db_url: str, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    from policy.audit.signednote import NoteSigner

    await ensure_app_role(db_url)
    key = Ed25519PrivateKey.generate()
    key_path = tmp_path / "k.pem"
    key_path.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    procs, writers, per_writer = 4, 8, 200
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", WORKER, as_role(db_url, APP_ROLE), str(key_path), str(p), str(writers),
            str(per_writer), cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE,
        )
        for p in range(procs)
    ]
    for child in children:
        _, err = await asyncio.wait_for(child.communicate(), timeout=100)
        assert child.returncode == 0, err.decode()[-2000:]
    total = procs * writers * per_writer
    signer = NoteSigner(ORIGIN, key)
    async with open_log(db_url, signer) as (alog, engine):
        async with engine.connect() as conn:
            seqs = [e.seq async for e in iter_entries(conn)]
        assert seqs == list(range(total))
        cp = await alog.checkpoint()
        assert cp is not None and cp.size == total
    result = await verify_database(db_url, signer, origin=ORIGIN)
    assert result.ok and result.entries == total, result.summary()
