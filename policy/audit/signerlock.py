"""One checkpoint signer among the processes that share a PostgreSQL access log: the one whose
database session holds a session-level advisory lock (core/sessionlock.py), and it stores its
checkpoints through that session. PostgreSQL grants the lock to one session at a time and frees it
only when that session unlocks or ends, so a checkpoint stored through the session is signed by the
holder, or not at all.

The checkpointer runs a statement on the session each round, under a server-side
`idle_session_timeout`: a holder that is paused (SIGSTOP, a stalled host) or cut off has its
session ended by the server after that long, the lock goes to the next process that asks, and when
the old holder resumes its first statement fails on the dead session: it signs nothing more until it
takes the lock again. Appending entries is not affected: every process keeps appending.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from core.sessionlock import SessionLock

#: Not the appenders' lock key (policy/audit/accesslog.py), nor the cluster duty's: any constant, the
#: same in every process.
SIGNER_LOCK_KEY = 0x70616E74617563  # "pantauc"
#: A holder silent this long loses its session (and the lock); the checkpointer runs a statement
#: every round (about 1.25 checkpoint intervals), so this is several rounds.
MIN_IDLE_TIMEOUT_S = 10.0


class SignerLock(SessionLock):
    """This process's claim to sign checkpoints: `session()` is the session that holds the lock
    (taken now if it is free), or None while another process holds it. Close with `close()`."""

    def __init__(self, engine: AsyncEngine, idle_timeout_s: float = MIN_IDLE_TIMEOUT_S) -> None:
        super().__init__(engine, SIGNER_LOCK_KEY, idle_timeout_s, "access log checkpoint signer")
