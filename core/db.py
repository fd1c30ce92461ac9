"""Database base class, UTC-safe types, and the async engine/session factory (SQLite or PostgreSQL)."""

from __future__ import annotations

import sqlite3
import weakref
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so alembic batch mode on SQLite can find them again.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table; one MetaData for the one alembic chain."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite hands back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class ClosingSQLiteConnection(sqlite3.Connection):
    """A sqlite3 connection whose close() really ends its transaction and lets go of the database's
    write lock, whatever statements it left unfinished.

    Python's close() (sqlite3_close_v2) leaves a connection that still has an unfinished statement
    open as a "zombie": its transaction, and the write lock with it, lives on until the cursor holding
    the statement is garbage-collected. That statement is there whenever a task is cancelled in the
    middle of one (aiosqlite runs it to the end in its thread; an INSERT ... RETURNING whose rows were
    never fetched stays unfinished) and SQLAlchemy then closes the connection. Every other writer
    then waited the whole busy timeout and failed with "database is locked", again and again: a
    gateway stopped during its start-up writes took 30-60 s to stop and lost what it wrote then.
    Here close() first closes every cursor the connection made, then rolls back what is left."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cursors: weakref.WeakSet[sqlite3.Cursor] = weakref.WeakSet()

    def cursor(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:  # type: ignore[override]
        cur = super().cursor(*args, **kwargs)
        self._cursors.add(cur)
        return cur

    # The C methods make their cursors without calling cursor(): route them through it.
    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        return self.cursor().executemany(sql, parameters)

    def executescript(self, script: str, /) -> sqlite3.Cursor:
        return self.cursor().executescript(script)

    def close(self) -> None:
        for cur in list(self._cursors):
            try:
                cur.close()  # resets and finalizes its statement
            except sqlite3.Error:
                pass
        if self.in_transaction:
            try:
                self.rollback()  # what was never committed ends now, not when a cursor is collected
            except sqlite3.Error:
                pass
        super().close()


def make_engine(url: str, echo: bool = False) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys, a busy timeout and connections that really
    close (ClosingSQLiteConnection)."""
    kwargs: dict[str, Any] = {"echo": echo}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30, "factory": ClosingSQLiteConnection}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            # FULL: a commit (an access-log entry, a segment row) survives a power cut, not just a crash.
            cur.execute("PRAGMA synchronous=FULL")
            cur.close()

    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Session factory; objects stay usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
