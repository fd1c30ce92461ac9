"""Reading the access log back: entries and checkpoints in order, Merkle trees and proofs."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.errors import NotFound
from policy.audit.encoding import LogEntry, StoredCheckpoint, leaf_of, entry_time
from policy.audit.models import AccessLogCheckpoint, AccessLogEntry
from policy.audit.merkle import MerkleTree

_PARTITION = 5000


async def iter_entries(
    conn: AsyncConnection, first: int = 0, stop: int | None = None
) -> AsyncIterator[LogEntry]:
    """Entries with first <= seq < stop, in seq order, streamed."""
    t = AccessLogEntry.__table__
    query = select(t.c.seq, t.c.prev_hash, t.c.entry_hash, t.c.payload, t.c.created_at).where(
        t.c.seq >= first
    )
    if stop is not None:
        query = query.where(t.c.seq < stop)
    result = await conn.stream(query.order_by(t.c.seq).execution_options(yield_per=_PARTITION))
    async for part in result.partitions(_PARTITION):
        for seq, prev, h, payload, created in part:
            yield LogEntry(seq, prev, h, payload, entry_time(created))


async def read_checkpoints(conn: AsyncConnection) -> list[StoredCheckpoint]:
    """Every stored checkpoint, smallest first."""
    t = AccessLogCheckpoint.__table__
    rows = await conn.execute(select(t.c.size, t.c.root_hash, t.c.note, t.c.created_at).order_by(t.c.size))
    return [StoredCheckpoint(s, r, n, entry_time(c)) for s, r, n, c in rows]


async def latest_checkpoint(conn: AsyncConnection) -> StoredCheckpoint | None:
    """The checkpoint over the largest tree, if any."""
    t = AccessLogCheckpoint.__table__
    row = (
        await conn.execute(
            select(t.c.size, t.c.root_hash, t.c.note, t.c.created_at).order_by(t.c.size.desc()).limit(1)
        )
    ).first()
    return None if row is None else StoredCheckpoint(row[0], row[1], row[2], entry_time(row[3]))


async def load_tree(conn: AsyncConnection, size: int) -> MerkleTree:
    """The Merkle tree over the first `size` stored entries (as stored; the verifier checks them)."""
    tree = MerkleTree()
    async for entry in iter_entries(conn, 0, size):
        tree.append(leaf_of(entry.payload))
    if tree.size != size:
        raise NotFound(f"the log holds {tree.size} entries, fewer than {size}")
    return tree
