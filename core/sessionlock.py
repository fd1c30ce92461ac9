"""One holder at a time among processes sharing a PostgreSQL database: the process whose database
session holds a session-level advisory lock on a key. PostgreSQL grants the lock to one session at a
time and frees it only when that session unlocks or ends, so whatever the holder does through the
session (or while its session lives) is the holder's alone.

The session is kept busy (a statement each round of the user) under a server-side
`idle_session_timeout`: a holder that is paused (SIGSTOP, a stalled host) or cut off has its session
ended by the server after that long, the lock goes to the next process that asks, and when the old
holder resumes its first statement fails on the dead session. A holder killed outright (kill -9) has
its socket closed by the kernel, and the server ends the session (and frees the lock) at once.

Used by the checkpoint signer (policy/audit/signerlock.py) and the cluster duty (cluster/duty.py).

Pitfalls (PostgreSQL, SQLAlchemy's pool):
- The session must be in autocommit: between statements it is then idle (not idle in a transaction),
  which is what idle_session_timeout measures.
- A SIGSTOPped holder keeps its session (the socket stays open): only idle_session_timeout ends it.
- The lock's connection never goes back to the pool: a pooled connection would carry the lock (a
  rollback does not release a session-level advisory lock) and the idle timeout to its next user. It
  is invalidated (closed for good) instead, also when the lock was not granted.
"""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

#: PostgreSQL cuts application_name to 63 bytes (NAMEDATALEN - 1).
APPLICATION_NAME_MAX = 63

# Who holds a session-level advisory lock on a bigint key: pg_locks splits the key into classid (high
# 32 bits) and objid (low 32 bits), objsubid 1 marks a bigint key.
_HOLDER = text(
    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
    "AND l.classid = (CAST(:k AS bigint) >> 32)::oid AND l.objid = (CAST(:k AS bigint) & 4294967295)::oid "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


class SessionLock:
    """This process's claim to the lock on `key`: `session()` is the session that holds it (taken now
    if it is free), or None while another process holds it. Close with `close()`.

    `what` names the lock in the log; `application_name`, when given, is set on the holder's session,
    so others read who holds it (`holder_name`)."""

    def __init__(self, engine: AsyncEngine, key: int, idle_timeout_s: float, what: str,
                 application_name: str | None = None) -> None:
        self._engine = engine
        self.key = key
        self._idle_ms = int(max(idle_timeout_s, 1.0) * 1000)
        self._what = what
        self._application_name = application_name[:APPLICATION_NAME_MAX] if application_name else None
        self._conn: AsyncConnection | None = None

    @property
    def held(self) -> bool:
        """Whether this process held the lock at its last `session()`."""
        return self._conn is not None

    async def alive(self) -> bool:
        """Whether the held lock's session still answers (a statement); a session that ended is
        dropped, and the lock is not asked for again here (the caller's next `session()` does)."""
        if self._conn is None:
            return False
        try:
            await self._conn.execute(text("SELECT 1"))
            return True
        except (SQLAlchemyError, OSError) as error:
            log.warning("%s: the lock holder's session ended (%s); no longer holding it", self._what, error)
            await self._drop()
            return False

    async def session(self) -> AsyncConnection | None:
        """The lock holder's session (checked alive by a statement), or None when another process
        holds the lock. Raises the driver's error when the database cannot be reached."""
        if self._conn is not None and await self.alive():
            return self._conn
        conn = await self._engine.connect()
        try:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f"SET idle_session_timeout = {self._idle_ms}"))
            if self._application_name is not None:
                await conn.execute(text("SELECT set_config('application_name', :n, false)"),
                                   {"n": self._application_name})
            got = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}))
        except BaseException:
            # Cancelled or failed after the lock may have been granted: the session goes with it.
            await _discard(conn)
            raise
        if not got:
            await _discard(conn)
            return None
        log.info("%s: this process holds the lock now", self._what)
        self._conn = conn
        return conn

    async def close(self) -> None:
        """Give the lock up (another process takes it at its next round) and close the session."""
        if self._conn is None:
            return
        try:
            await self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
        except (SQLAlchemyError, OSError) as error:
            log.info("%s: lock not released (%s); it goes with the session", self._what, error)
        await self._drop()

    async def abandon(self) -> None:
        """Drop the session without a word to the server (it does not answer): the lock goes when the
        server ends the session."""
        await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await _discard(conn)


async def holder_name(conn: AsyncConnection, key: int) -> str | None:
    """The application_name of the session holding the lock on `key` ("" when it set none), or None
    when nobody holds it."""
    return await conn.scalar(_HOLDER, {"k": key})


async def _discard(conn: AsyncConnection) -> None:
    """Close the connection for good (never back to the pool)."""
    try:
        await conn.invalidate()
        await conn.close()
    except (SQLAlchemyError, OSError):
        pass
