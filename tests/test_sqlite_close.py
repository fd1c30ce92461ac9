"""SQLite connections that are closed with a statement unfinished let go of the write lock
(core/db.py ClosingSQLiteConnection).

A task cancelled in the middle of a statement leaves it unfinished (aiosqlite runs it to the end in
its thread; an INSERT ... RETURNING's rows are never fetched), and SQLAlchemy then closes the
connection. Python's own close() left such a connection open as a zombie that held the write lock
until the cursor was garbage-collected: every other writer waited the whole 30 s busy timeout and
failed ("database is locked"), which is how a gateway stopped during its start-up writes took 30-60 s
to stop."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from core.db import ClosingSQLiteConnection, make_engine


def _write_within_a_second(path: Path) -> list[tuple[int]]:
    other = sqlite3.connect(path, timeout=1)
    try:
        other.execute("INSERT INTO t (v) VALUES (2)")
        other.commit()
        return list(other.execute("SELECT v FROM t"))
    finally:
        other.close()


def _table(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)")


@pytest.mark.parametrize("how", ["cursor", "execute"])
def test_closing_with_an_unfinished_insert_returning_ends_its_transaction(tmp_path: Path, how: str) -> None:
    path = tmp_path / "t.db"
    _table(path)
    conn = sqlite3.connect(path, timeout=1, factory=ClosingSQLiteConnection)
    sql = "INSERT INTO t (v) VALUES (1) RETURNING id"
    unfinished = conn.cursor().execute(sql) if how == "cursor" else conn.execute(sql)
    conn.close()
    assert _write_within_a_second(path) == [(2,)]  # the lock is free; the unfinished insert rolled back
    del unfinished


def test_pythons_own_close_keeps_the_lock_while_the_cursor_lives(tmp_path: Path) -> None:
    """The pitfall itself (CPython 3.11, SQLite 3.40): if this starts passing, the wrapper may go."""
    path = tmp_path / "t.db"
    _table(path)
    conn = sqlite3.connect(path, timeout=1)
    unfinished = conn.execute("INSERT INTO t (v) VALUES (1) RETURNING id")
    conn.close()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _write_within_a_second(path)
    del unfinished


async def test_an_engine_connection_invalidated_mid_statement_frees_the_database(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    _table(path)
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    try:
        conn = await engine.connect()
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        # As a cancelled task leaves it: the statement ran, its rows were never fetched.
        unfinished = await driver.execute("INSERT INTO t (v) VALUES (1) RETURNING id")
        await conn.invalidate()  # what SQLAlchemy does with a connection whose statement was cancelled
        await conn.close()
        assert await asyncio.to_thread(_write_within_a_second, path) == [(2,)]
        async with engine.connect() as again:
            assert (await again.execute(text("SELECT count(*) FROM t"))).scalar() == 1
        del unfinished
    finally:
        await engine.dispose()
