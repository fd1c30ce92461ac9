"""The access log: hash-chained appends with group commit, and the checkpointer that signs them.

`record()` returns once its entry is committed. Concurrent callers in one process share
one transaction (group commit); across processes, PostgreSQL serializes appenders with an
advisory lock, and the unique `seq` and `prev_hash` columns refuse a fork if anything
slips past it (the loser retries on the new tail).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence

from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import aiohttp

from core.alerting import AlertKind, Discard, Notice, Publisher
from core.clock import Clock, SystemClock
from core.errors import PantauError
from core.waiting import within
from policy.audit.entries import AccessEvent
from policy.audit.encoding import GENESIS_PREV, StoredCheckpoint, entry_hash, leaf_of, payload_for, entry_time
from policy.audit.models import AccessLogCheckpoint, AccessLogEntry
from policy.audit.proofs import LogProofs
from policy.audit.reader import iter_entries, latest_checkpoint
from policy.audit.merkle import CompactRange
from policy.audit.signednote import Checkpoint, NoteError, NoteSigner, open_checkpoint
from policy.audit.signerlock import MIN_IDLE_TIMEOUT_S, SignerLock
from policy.audit.witness import Witness

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same in every gateway process.
_PG_LOCK_KEY = 0x70616E746175  # "pantau"
_MAX_BATCH = 1000
_MAX_ATTEMPTS = 50


class AccessLogError(PantauError):
    """The log could not be written."""

    status = 503
    kind = "access-log-unavailable"
    title = "Access log unavailable"
    retriable = True


class AccessLogTampered(PantauError):
    """The stored log no longer matches what was signed; the checkpointer refuses to sign over it."""

    title = "Access log tampered"
    kind = "access-log-tampered"


class AccessLog:
    """Implements policy.audit.entries.AccessRecorder; `run()` is its checkpointer."""

    def __init__(
        self,
        engine: AsyncEngine,
        signer: NoteSigner,
        *,
        origin: str,
        checkpoint_interval_s: float = 1.0,
        clock: Clock | None = None,
        witnesses: Sequence[Witness] = (),
        alerts: Publisher | None = None,
    ) -> None:
        self._engine = engine
        self._signer = signer
        self.origin = origin
        #: Inclusion and consistency proofs for readers of the log (the API).
        self.proofs = LogProofs(engine)
        self._interval = checkpoint_interval_s
        self._clock = clock or SystemClock()
        self._witnesses = list(witnesses)
        self._pg = engine.dialect.name == "postgresql"
        #: On PostgreSQL while `run()` runs: the advisory lock that makes one process the signer.
        self._signer_lock: SignerLock | None = None
        self._pending: list[tuple[AccessEvent, asyncio.Future[int]]] = []
        self._write_lock = asyncio.Lock()
        self._appended = asyncio.Event()
        self._checkpoint_lock = asyncio.Lock()
        self._tree: CompactRange | None = None
        self._tree_tail = GENESIS_PREV
        self._signed_size = -1
        self._witnessed: dict[int, int] = {}  # witness index -> size last pushed
        #: Set when the stored history no longer matches its signed checkpoints: nothing
        #: is signed over it, and /health and /metrics raise the alarm.
        self.tampered: str | None = None
        self._alerts = alerts or Discard()

    # -- appending ---------------------------------------------------------------------------

    async def record(self, event: AccessEvent) -> None:
        """Append one event; returns when it is committed."""
        await self.append(event)

    async def append(self, event: AccessEvent) -> int:
        """Append one event and return its seq."""
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((event, fut))
        async with self._write_lock:
            if not fut.done():
                # Leader: write everything queued so far in one transaction.
                batch, self._pending = self._pending[:_MAX_BATCH], self._pending[_MAX_BATCH:]
                try:
                    first = await self._write([e for e, _ in batch])
                except BaseException as exc:
                    err = exc if isinstance(exc, Exception) else AccessLogError("append interrupted")
                    for _, f in batch:
                        if not f.done() and f is not fut:
                            f.set_exception(err)
                    raise
                for offset, (_, f) in enumerate(batch):
                    if not f.done():
                        f.set_result(first + offset)
                self._appended.set()
        return fut.result() if fut.done() else await fut

    async def _write(self, events: list[AccessEvent]) -> int:
        for attempt in range(_MAX_ATTEMPTS):
            try:
                async with self._engine.begin() as conn:
                    return await self._insert(conn, events)
            except (IntegrityError, OperationalError) as exc:
                # IntegrityError: another process took this seq/prev_hash; OperationalError:
                # SQLite busy. Both mean "the tail moved, read it again".
                if attempt == _MAX_ATTEMPTS - 1:
                    raise AccessLogError(f"append failed after {_MAX_ATTEMPTS} attempts") from exc
                log.debug("access log append conflict (attempt %d): %s", attempt + 1, type(exc).__name__)
                await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise AssertionError("unreachable")

    async def _insert(self, conn: AsyncConnection, events: list[AccessEvent]) -> int:
        t = AccessLogEntry.__table__
        if self._pg:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        tail = (await conn.execute(select(t.c.seq, t.c.entry_hash).order_by(t.c.seq.desc()).limit(1))).first()
        first, prev = (0, GENESIS_PREV) if tail is None else (tail[0] + 1, tail[1])
        at = self._clock.now()
        rows = []
        for offset, event in enumerate(events):
            payload = payload_for(first + offset, at, event)
            h = entry_hash(prev, payload)
            rows.append({"seq": first + offset, "prev_hash": prev, "entry_hash": h, "payload": payload,
                         "created_at": at})
            prev = h
        await conn.execute(insert(AccessLogEntry), rows)
        return first

    # -- checkpoints ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Sign a checkpoint soon after every append (and poll for other processes' appends).
        On PostgreSQL only while this process holds the signer lock (policy/audit/signerlock.py):
        the others keep appending, and one of them takes over when the signer stops or goes silent.

        Safe to cancel: on cancellation it signs a final checkpoint before re-raising.
        """
        if self._pg:
            self._signer_lock = SignerLock(self._engine, max(MIN_IDLE_TIMEOUT_S, 4 * self._interval))
        try:
            while True:
                await within(self._appended.wait(), self._interval)
                self._appended.clear()
                await self._checkpoint_logged()
                # Coalesce bursts: at most four checkpoints per interval.
                await asyncio.sleep(self._interval / 4)
        except asyncio.CancelledError:
            try:
                await self.flush()
            except (AccessLogError, AccessLogTampered, SQLAlchemyError, OSError) as exc:
                log.error("access log: final checkpoint failed: %s", exc)
            raise
        finally:
            for witness in self._witnesses:
                await witness.close()
            if self._signer_lock is not None:
                await self._signer_lock.close()
                self._signer_lock = None

    @property
    def signing(self) -> bool:
        """Whether this process signs the checkpoints (always, unless several share PostgreSQL)."""
        return not self._pg or (self._signer_lock is not None and self._signer_lock.held)

    async def _checkpoint_logged(self) -> None:
        try:
            await self.checkpoint()
        except AccessLogTampered as exc:
            if self.tampered is None:
                log.critical("access log: %s; no checkpoint signed", exc)
                self._alerts.publish(Notice(AlertKind.ACCESSLOG_TAMPERED, None, {"problem": exc.detail}))
            self.tampered = exc.detail
        except (SQLAlchemyError, OSError) as exc:
            log.warning("access log checkpoint failed, will retry: %s", exc)

    async def checkpoint(self) -> StoredCheckpoint | None:
        """Sign and store a checkpoint over every committed entry if the tree grew; push it to witnesses.
        On PostgreSQL only as the signer (None otherwise): the running checkpointer's lock, or for a
        one-off call (the CLI) the lock taken for this call, when no running process holds it."""
        async with self._checkpoint_lock:
            if not self._pg:
                return await self._sign(None)
            if self._signer_lock is not None:
                session = await self._signer_lock.session()
                return None if session is None else await self._sign(session)
            once = SignerLock(self._engine)
            try:
                session = await once.session()
                return None if session is None else await self._sign(session)
            finally:
                await once.close()

    async def checkpoint_covering(self, seq: int, wait_s: float | None = None) -> None:
        """Have entry `seq` covered by a stored checkpoint: signed here, or (another process being the
        signer) by waiting up to `wait_s` for the signer's. The caller reads the newest checkpoint after."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (wait_s if wait_s is not None else max(5.0, 4 * self._interval))
        while True:
            await self.checkpoint()
            async with self._engine.connect() as conn:
                latest = await latest_checkpoint(conn)
            if (latest is not None and latest.size > seq) or loop.time() >= deadline:
                return
            await asyncio.sleep(min(0.2, self._interval / 4))

    async def _sign(self, session: AsyncConnection | None) -> StoredCheckpoint | None:
        """The checkpoint itself, stored through `session` (the signer lock's) or a transaction of its own."""
        async with self._engine.connect() as conn:
            if self._tree is None:
                await self._load(conn)
            await self._extend(conn)
            assert self._tree is not None
            size = self._tree.size
            root = self._tree.root()
        stored: StoredCheckpoint | None = None
        if size > self._signed_size and size > 0:
            stored = await self._store(size, root, session)
            self._signed_size = size
        await self._push_witnesses()
        return stored

    async def _load(self, conn: AsyncConnection) -> None:
        """Rebuild the tree from the database and check it against the newest checkpoint."""
        latest = await latest_checkpoint(conn)
        self._tree, self._tree_tail = CompactRange(), GENESIS_PREV
        if latest is None:
            return
        try:
            signed = open_checkpoint(latest.note, self._signer, self.origin)
        except NoteError as exc:
            self._tree = None
            raise AccessLogTampered(f"newest checkpoint (size {latest.size}) does not verify: {exc}") from exc
        await self._extend(conn, stop=signed.size)
        if self._tree.size != signed.size or self._tree.root() != signed.root_hash:
            self._tree = None
            raise AccessLogTampered(f"entries 0..{signed.size - 1} no longer match their signed checkpoint")
        self._signed_size = signed.size

    async def _extend(self, conn: AsyncConnection, stop: int | None = None) -> None:
        tree = self._tree
        assert tree is not None
        async for entry in iter_entries(conn, tree.size, stop):
            if entry.seq != tree.size or entry.prev_hash != self._tree_tail or entry_hash(
                entry.prev_hash, entry.payload
            ) != entry.entry_hash:
                self._tree = None
                raise AccessLogTampered(f"entry {tree.size} breaks the chain")
            tree.append(leaf_of(entry.payload))
            self._tree_tail = entry.entry_hash

    async def _store(self, size: int, root: bytes, session: AsyncConnection | None) -> StoredCheckpoint:
        note = self._signer.sign(Checkpoint(self.origin, size, root).text())
        now = self._clock.now()
        row = {"size": size, "root_hash": root.hex(), "note": note, "created_at": now}
        try:
            if session is not None:
                # Through the lock holder's session (autocommit): if that session has ended, so has
                # the lock, and this fails instead of storing beside another signer's.
                await session.execute(insert(AccessLogCheckpoint), row)
            else:
                async with self._engine.begin() as conn:
                    await conn.execute(insert(AccessLogCheckpoint), row)
        except IntegrityError:
            # Another gateway process signed this size first, over the same tree.
            log.debug("checkpoint %d already stored by another process", size)
        return StoredCheckpoint(size, root.hex(), note, entry_time(now))

    async def _push_witnesses(self) -> None:
        if not self._witnesses or self._signed_size <= 0:
            return
        pending = [i for i in range(len(self._witnesses)) if self._witnessed.get(i, -1) < self._signed_size]
        if not pending:
            return
        async with self._engine.connect() as conn:
            latest = await latest_checkpoint(conn)
        if latest is None:
            return
        for i in pending:
            try:
                await self._witnesses[i].push(latest)
                self._witnessed[i] = latest.size
            except (OSError, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("witness %d did not take checkpoint %d: %s", i, latest.size, exc)

    async def flush(self) -> StoredCheckpoint | None:
        """Write anything still queued and sign a final checkpoint (shutdown)."""
        async with self._write_lock:
            batch, self._pending = self._pending, []
            if batch:
                first = await self._write([e for e, _ in batch])
                for offset, (_, f) in enumerate(batch):
                    if not f.done():
                        f.set_result(first + offset)
        return await self.checkpoint()
