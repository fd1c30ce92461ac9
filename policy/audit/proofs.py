"""Inclusion and consistency proofs for the API, from one Merkle tree kept in memory.

The log is append-only (the database refuses UPDATE and DELETE), so the leaves read once stay true:
each request reads only the entries appended since the last one, instead of the whole log. (The
tree is read as stored; whether what is stored still matches the signed checkpoints is the access
log's and the verifier's question, not this one's.)
"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.errors import NotFound
from policy.audit.encoding import leaf_of
from policy.audit.merkle import MerkleTree
from policy.audit.reader import iter_entries, latest_checkpoint


class LogProofs:
    """Proofs over the stored log, its tree grown as the log grows."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._tree = MerkleTree()
        self._lock = asyncio.Lock()

    async def _grow(self, conn: AsyncConnection, size: int) -> None:
        tree = self._tree
        if tree.size < size:
            async for entry in iter_entries(conn, tree.size, size):
                tree.append(leaf_of(entry.payload))
        if tree.size < size:
            raise NotFound(f"the log holds {tree.size} entries, fewer than {size}")

    async def inclusion(self, seq: int, size: int | None = None) -> tuple[int, list[bytes]]:
        """(tree size, proof) that entry `seq` is in the tree of `size` (default: the latest checkpoint)."""
        async with self._lock, self._engine.connect() as conn:
            if size is None:
                latest = await latest_checkpoint(conn)
                if latest is None:
                    raise NotFound("no checkpoint yet")
                size = latest.size
            if not 0 <= seq < size:
                raise NotFound(f"entry {seq} is not in a tree of size {size}")
            await self._grow(conn, size)
            return size, self._tree.inclusion_proof(seq, size)

    async def consistency(self, old_size: int, new_size: int) -> list[bytes]:
        """Proof that the tree of `old_size` is a prefix of the tree of `new_size`."""
        if not 0 <= old_size <= new_size:
            raise NotFound(f"no consistency proof from {old_size} to {new_size}")
        async with self._lock, self._engine.connect() as conn:
            await self._grow(conn, new_size)
            return self._tree.consistency_proof(old_size, new_size)
