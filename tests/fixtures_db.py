"""Fixtures for the database backends: a SQLite file, and a fresh database on a real PostgreSQL.

PostgreSQL: TEST_PG_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres) must
reach a server that lets us create databases. Locally an unreachable server skips the
PostgreSQL cases with a visible reason; under CI (CI=true) it fails the run instead.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from gateway.migrations import upgrade

PG_ADMIN = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ["sqlite", "postgresql"]
_counter = itertools.count()


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _pg_url(name: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated template database; each test copies it (fast) instead of migrating."""
    name = f"pantau_test_{os.getpid()}_tpl"
    try:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}"'))
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and is not reachable at {PG_ADMIN}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN}: {exc}")
    upgrade(_pg_url(name))
    yield name
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'pantau.db'}"
        upgrade(url)
        yield url
        return
    yield from _copy_of(request.getfixturevalue("pg_template"))


@pytest.fixture(scope="module", params=BACKENDS)
def module_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database per module and backend, for a module that shares one recording between its
    tests (SQLite unmigrated: the gateway migrates it on start)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'pantau.db'}"
        return
    yield from _copy_of(request.getfixturevalue("pg_template"))


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """A migrated, empty PostgreSQL database (for tests that compare against SQLite themselves)."""
    yield from _copy_of(pg_template)


def _copy_of(template: str) -> Iterator[str]:
    name = f"pantau_test_{os.getpid()}_{next(_counter)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield _pg_url(name)
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def empty_pg_url() -> Iterator[str]:
    """An empty (unmigrated) PostgreSQL database."""
    name = f"pantau_test_{os.getpid()}_e{next(_counter)}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    yield _pg_url(name)
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
