"""RFC 6962 Merkle tree against the reference vectors, every corrupted proof, random trees."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy.audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MerkleTree,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

# certificate-transparency-go merkle/log_verifier_test.go and the RFC 6962 reference tree
# (certificate-transparency C++ merkle_tree_test.cc): leaf inputs, then roots of the first n.
LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f",
)]
ROOTS = [bytes.fromhex(h) for h in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]
H = bytes.fromhex
# (leaf index, tree size, proof)
INCLUSION = [
    (0, 1, []),
    (0, 8, [H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]),
    (5, 8, [H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
    (2, 3, [H("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (1, 5, [H("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]),
]
# (old size, new size, proof)
CONSISTENCY = [
    (1, 1, []),
    (1, 8, [H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]),
    (6, 8, [H("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
    (2, 5, [H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]),
    (3, 8, [H("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
            H("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
            H("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
            H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]),
]
SOME_HASH = hashlib.sha256(b"some hash").digest()
TREE = MerkleTree(leaf_hash(x) for x in LEAVES)


def test_empty_tree_root() -> None:
    assert root([]) == EMPTY_ROOT == H("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert MerkleTree().root() == EMPTY_ROOT


@pytest.mark.parametrize("n", range(1, 9))
def test_reference_roots(n: int) -> None:
    leaves = [leaf_hash(x) for x in LEAVES[:n]]
    assert root(leaves) == ROOTS[n - 1]
    assert TREE.root(n) == ROOTS[n - 1]
    assert MerkleTree(leaves).root() == ROOTS[n - 1]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_reference_inclusion_proofs(index: int, size: int, proof: list[bytes]) -> None:
    assert TREE.inclusion_proof(index, size) == proof
    assert verify_inclusion(leaf_hash(LEAVES[index]), index, size, proof, ROOTS[size - 1])


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_reference_consistency_proofs(old: int, new: int, proof: list[bytes]) -> None:
    assert TREE.consistency_proof(old, new) == proof
    assert verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], proof)


def _flips(proof: list[bytes]) -> list[list[bytes]]:
    """One proof per element and per bit position in it: that bit flipped."""
    out = []
    for i, element in enumerate(proof):
        for bit in range(256):
            changed = bytearray(element)
            changed[bit // 8] ^= 1 << (bit % 8)
            out.append(proof[:i] + [bytes(changed)] + proof[i + 1:])
    return out


def corrupted_inclusion(index: int, size: int, proof: list[bytes], rt: bytes, leaf: bytes):
    """Every wrong variant, in the manner of transparency-dev/merkle's corruptInclusionProof."""
    probes = [
        (index - 1, size, proof, rt, leaf), (index + 1, size, proof, rt, leaf), (index ^ 2, size, proof, rt, leaf),
        (index, size * 2, proof, rt, leaf), (index, size // 2, proof, rt, leaf),
        (index, size, proof, rt, SOME_HASH), (index, size, proof, EMPTY_ROOT, leaf),
        (index, size, proof, SOME_HASH, leaf),
        (index, size, proof + [b""], rt, leaf), (index, size, proof + [rt], rt, leaf),
        (index, size, [b""] + proof, rt, leaf), (index, size, [rt] + proof, rt, leaf),
        (index, size, proof + [SOME_HASH], rt, leaf),
    ]
    if proof:
        probes.append((index, size, proof[:-1], rt, leaf))
        probes.append((index, size, proof[1:], rt, leaf))
    if len(proof) > 1:
        probes.append((index, size, [proof[0], SOME_HASH] + proof[1:], rt, leaf))
        probes.append((index, size, proof[::-1], rt, leaf))
    probes += [(index, size, p, rt, leaf) for p in _flips(proof)]
    return probes


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_every_corrupted_inclusion_proof_is_rejected(index: int, size: int, proof: list[bytes]) -> None:
    leaf = leaf_hash(LEAVES[index])
    for i, s, p, r, lf in corrupted_inclusion(index, size, proof, ROOTS[size - 1], leaf):
        if (i, s) == (index, size) and p == proof and r == ROOTS[size - 1] and lf == leaf:
            continue
        assert not verify_inclusion(lf, i, s, p, r), (i, s, len(p))


def corrupted_consistency(old: int, new: int, proof: list[bytes], r1: bytes, r2: bytes):
    probes = [
        (old - 1, new, proof, r1, r2), (old + 1, new, proof, r1, r2), (old ^ 2, new, proof, r1, r2),
        (old, new * 2, proof, r1, r2), (old, new // 2, proof, r1, r2),
        (old, new, proof, SOME_HASH, r2), (old, new, proof, r1, SOME_HASH), (old, new, proof, r2, r1),
        (old, new, [], r1, r2),
        (old, new, proof + [b""], r1, r2), (old, new, proof + [r1], r1, r2), (old, new, proof + [SOME_HASH], r1, r2),
        (old, new, proof[:-1], r1, r2), (old, new, proof[1:], r1, r2),
        (old, new, [b""] + proof, r1, r2), (old, new, [proof[0]] + proof, r1, r2),
    ]
    probes += [(old, new, p, r1, r2) for p in _flips(proof)]
    return probes


@pytest.mark.parametrize(("old", "new", "proof"), [c for c in CONSISTENCY if c[2]])
def test_every_corrupted_consistency_proof_is_rejected(old: int, new: int, proof: list[bytes]) -> None:
    r1, r2 = ROOTS[old - 1], ROOTS[new - 1]
    for o, n, p, a, b in corrupted_consistency(old, new, proof, r1, r2):
        assert not verify_consistency(o, n, a, b, p), (o, n, len(p))


def test_degenerate_consistency() -> None:
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 5, EMPTY_ROOT, ROOTS[4], [])
    assert not verify_consistency(0, 5, EMPTY_ROOT, ROOTS[4], [SOME_HASH])
    assert not verify_consistency(2, 1, ROOTS[1], ROOTS[0], [])
    assert not verify_consistency(1, 1, ROOTS[0], ROOTS[1], [])
    assert not verify_consistency(1, 1, ROOTS[0], ROOTS[0], [ROOTS[0]])
    assert not verify_consistency(1, 2, ROOTS[0], ROOTS[1], [])


def test_degenerate_inclusion() -> None:
    leaf = leaf_hash(b"")
    assert not verify_inclusion(leaf, 0, 0, [], EMPTY_ROOT)
    assert not verify_inclusion(leaf, 1, 1, [], leaf)
    assert not verify_inclusion(b"short", 0, 1, [], b"short")
    assert verify_inclusion(leaf, 0, 1, [], leaf)


@settings(max_examples=150, deadline=None)
@given(
    leaves=st.lists(st.binary(max_size=8), min_size=1, max_size=70, unique=True),
    data=st.data(),
)
def test_random_trees_proofs_verify_and_corruptions_fail(leaves: list[bytes], data: st.DataObject) -> None:
    hashes = [leaf_hash(x) for x in leaves]
    tree = MerkleTree(hashes)
    cr = CompactRange()
    for i, h in enumerate(hashes):
        cr.append(h)
        assert cr.root() == tree.root(i + 1) == root(hashes[: i + 1])
    size = data.draw(st.integers(1, len(hashes)), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    rt = tree.root(size)
    proof = tree.inclusion_proof(index, size)
    assert verify_inclusion(hashes[index], index, size, proof, rt)
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1), label="element")
        bit = data.draw(st.integers(0, 255), label="bit")
        bad = bytearray(proof[i])
        bad[bit // 8] ^= 1 << (bit % 8)
        assert not verify_inclusion(hashes[index], index, size, proof[:i] + [bytes(bad)] + proof[i + 1:], rt)
        assert not verify_inclusion(hashes[index], index, size, proof[:-1], rt)
    assert not verify_inclusion(hashes[index], index, size, proof + [SOME_HASH], rt)
    other = data.draw(st.integers(0, size - 1), label="other")
    if other != index:  # leaves are distinct, so another position cannot give the same root
        assert not verify_inclusion(hashes[index], other, size, proof, rt)

    old = data.draw(st.integers(1, size), label="old")
    cproof = tree.consistency_proof(old, size)
    assert verify_consistency(old, size, tree.root(old), rt, cproof)
    if cproof:
        i = data.draw(st.integers(0, len(cproof) - 1), label="celement")
        bad = bytearray(cproof[i])
        bad[data.draw(st.integers(0, 31), label="cbyte")] ^= 0x01
        assert not verify_consistency(old, size, tree.root(old), rt, cproof[:i] + [bytes(bad)] + cproof[i + 1:])
        assert not verify_consistency(old, size, tree.root(old), rt, cproof[:-1])
        assert not verify_consistency(old, size, tree.root(old), rt, cproof + [SOME_HASH])
        if old > 1:
            assert not verify_consistency(old - 1, size, tree.root(old), rt, cproof)
