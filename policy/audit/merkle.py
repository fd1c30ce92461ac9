"""RFC 6962 / RFC 9162 Merkle tree: leaf and node hashes, roots, inclusion and consistency proofs.

Pure functions over SHA-256 leaf hashes. Proof generation follows RFC 6962 section 2.1
(PATH and SUBPROOF); verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """HASH(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """HASH(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class CompactRange:
    """The O(log n) right edge of a growing tree: append leaf hashes, ask the root at any time."""

    __slots__ = ("_stack", "size")

    def __init__(self) -> None:
        # Perfect subtree roots, largest (leftmost) first; their sizes are the set bits of `size`.
        self._stack: list[bytes] = []
        self.size = 0

    def append(self, leaf: bytes) -> None:
        stack = self._stack
        h = leaf
        n = self.size
        while n & 1:
            h = node_hash(stack.pop(), h)
            n >>= 1
        stack.append(h)
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        stack = self._stack
        h = stack[-1]
        for left in reversed(stack[:-1]):
            h = node_hash(left, h)
        return h


def root(leaves: Iterable[bytes]) -> bytes:
    """MTH over leaf hashes."""
    cr = CompactRange()
    for h in leaves:
        cr.append(h)
    return cr.root()


class MerkleTree:
    """All perfect aligned subtree hashes of a tree, for proofs at any size up to the current one."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        for h in leaves:
            self.append(h)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def append(self, leaf: bytes) -> None:
        levels = self._levels
        levels[0].append(leaf)
        level = 0
        while len(levels[level]) % 2 == 0:
            row = levels[level]
            parent = node_hash(row[-2], row[-1])
            if level + 1 == len(levels):
                levels.append([])
            levels[level + 1].append(parent)
            level += 1

    def leaf(self, index: int) -> bytes:
        return self._levels[0][index]

    def _range(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for ranges that occur in RFC 6962's recursion."""
        n = hi - lo
        if n & (n - 1) == 0 and lo % n == 0:
            return self._levels[n.bit_length() - 1][lo // n]
        k = _split(n)
        return node_hash(self._range(lo, lo + k), self._range(lo + k, hi))

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        self._check_size(size)
        return EMPTY_ROOT if size == 0 else self._range(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[0:size])."""
        size = self.size if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise ValueError(f"index {index} is outside a tree of size {size}")
        proof: list[bytes] = []
        lo, hi = 0, size
        while hi - lo > 1:
            k = _split(hi - lo)
            if index < lo + k:
                proof.append(self._range(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self._range(lo, lo + k))
                lo = lo + k
        proof.reverse()
        return proof

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[0:new_size]); empty when old_size is 0 or equal to new_size."""
        new_size = self.size if new_size is None else new_size
        self._check_size(new_size)
        if not 0 <= old_size <= new_size:
            raise ValueError(f"cannot prove {old_size} -> {new_size}")
        if old_size == 0 or old_size == new_size:
            return []
        proof: list[bytes] = []
        lo, hi, m, whole = 0, new_size, old_size, True
        while True:
            n = hi - lo
            if m == n:
                if not whole:
                    proof.append(self._range(lo, hi))
                break
            k = _split(n)
            if m <= k:
                proof.append(self._range(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self._range(lo, lo + k))
                lo, m, whole = lo + k, m - k, False
        proof.reverse()
        return proof

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ValueError(f"size {size} is outside 0..{self.size}")


def _valid_hashes(proof: Sequence[bytes]) -> bool:
    return all(isinstance(p, bytes) and len(p) == HASH_SIZE for p in proof)


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes | None:
    """The root that `proof` implies for `leaf` at `index` in a tree of `size`, or None if malformed."""
    if not 0 <= index < size or len(leaf) != HASH_SIZE or not _valid_hashes(proof):
        return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes) -> bool:
    """RFC 9162 2.1.3.2: is the leaf hash at `index` in the tree of `size` with `root_hash`?"""
    return root_from_inclusion_proof(leaf, index, size, proof) == root_hash


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: is the tree (old_size, old_root) a prefix of (new_size, new_root)?"""
    if not 0 <= old_size <= new_size or not _valid_hashes(proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
