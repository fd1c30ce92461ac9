"""1,000 tamperings per backend, made the way a superuser would (triggers off): all detected, first bad named.

Each case runs in one transaction that is rolled back afterwards, so one log serves them all.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from policy.audit.accesslog import AccessLog
from policy.audit.cli import verify_database
from policy.audit.encoding import StoredCheckpoint, entry_hash
from policy.audit.models import AccessLogCheckpoint, AccessLogEntry
from policy.audit.reader import iter_entries, read_checkpoints
from policy.audit.verify import LogVerifier, VerifyResult
from policy.audit.signednote import NoteSigner
from policy.audit.witness import FileWitness, read_witness_file

from .logutil import ORIGIN, bypass_triggers, event, new_signer, open_log

N = 150
CASES = 1000
T = cast(Table, AccessLogEntry.__table__)
CP = cast(Table, AccessLogCheckpoint.__table__)
Row = dict[str, Any]


async def build(alog: AccessLog, sizes: list[int]) -> None:
    """N entries, a checkpoint at each of `sizes` (and at N)."""
    done = 0
    for size in sorted({*sizes, N}):
        for i in range(done, size):
            await alog.record(event(i))
        await alog.checkpoint()
        done = size


async def verify_conn(conn: AsyncConnection, signer: NoteSigner, witness: list[StoredCheckpoint] = ()) -> VerifyResult:  # type: ignore[assignment]
    v = LogVerifier(signer, await read_checkpoints(conn), origin=ORIGIN, witness=witness)
    async for e in iter_entries(conn):
        v.feed(e)
    return v.finish()


async def rows(conn: AsyncConnection, seqs: list[int]) -> list[Row]:
    result = await conn.execute(select(T).where(T.c.seq.in_(seqs)).order_by(T.c.seq))
    return [dict(r._mapping) for r in result]


async def replace(conn: AsyncConnection, new_rows: list[Row]) -> None:
    """Write rows over the stored ones with the same seq (delete + insert sidesteps unique clashes)."""
    await conn.execute(delete(T).where(T.c.seq.in_([r["seq"] for r in new_rows])))
    await conn.execute(insert(T), new_rows)


def edited(payload: str) -> str:
    obj = json.loads(payload)
    obj["actor"] = "mallory"
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# Each tampering gets (conn, rng) and returns the seq the verifier must name (or a range).
Tamper = Callable[[AsyncConnection, random.Random], Any]


async def t_edit(conn: AsyncConnection, rng: random.Random) -> int:
    k = rng.randrange(N)
    (r,) = await rows(conn, [k])
    r["payload"] = edited(r["payload"])
    await replace(conn, [r])
    return k


async def t_edit_rehash(conn: AsyncConnection, rng: random.Random) -> int:
    k = rng.randrange(N)
    (r,) = await rows(conn, [k])
    r["payload"] = edited(r["payload"])
    r["entry_hash"] = entry_hash(r["prev_hash"], r["payload"])
    await replace(conn, [r])
    return k


async def t_prev_rehash(conn: AsyncConnection, rng: random.Random) -> int:
    k = rng.randrange(N)
    (r,) = await rows(conn, [k])
    r["prev_hash"] = hashlib.sha256(rng.randbytes(8)).hexdigest()
    r["entry_hash"] = entry_hash(r["prev_hash"], r["payload"])
    await replace(conn, [r])
    return k


async def t_time(conn: AsyncConnection, rng: random.Random) -> int:
    k = rng.randrange(N)
    (r,) = await rows(conn, [k])
    r["created_at"] = r["created_at"].replace(year=2025)
    await replace(conn, [r])
    return k


async def t_delete(conn: AsyncConnection, rng: random.Random) -> int:
    k = rng.randrange(N)
    await conn.execute(delete(T).where(T.c.seq == k))
    return k


async def t_swap(conn: AsyncConnection, rng: random.Random) -> int:
    a, b = sorted(rng.sample(range(N), 2))
    ra, rb = await rows(conn, [a, b])
    ra["seq"], rb["seq"] = b, a
    await replace(conn, [ra, rb])
    return a


async def t_reorder(conn: AsyncConnection, rng: random.Random) -> int:
    k = rng.randrange(N - 2)
    m = rng.randint(3, min(10, N - k))
    rs = await rows(conn, list(range(k, k + m)))
    moved = rs[1:] + rs[:1]
    for seq, r in zip(range(k, k + m), moved, strict=True):
        r["seq"] = seq
    await replace(conn, moved)
    return k


async def t_truncate(conn: AsyncConnection, rng: random.Random) -> int:
    k = rng.randrange(N)
    await conn.execute(delete(T).where(T.c.seq >= k))
    return k


async def t_rewrite_suffix(conn: AsyncConnection, rng: random.Random) -> tuple[int, int]:
    """Edit entry k and recompute every hash after it: no broken link, only the Merkle roots tell."""
    k = rng.randrange(N)
    rs = await rows(conn, list(range(k, N)))
    prev = rs[0]["prev_hash"]
    rs[0]["payload"] = edited(rs[0]["payload"])
    for r in rs:
        r["prev_hash"] = prev
        r["entry_hash"] = prev = entry_hash(prev, r["payload"])
    await replace(conn, rs)
    return k, k  # bounds filled in by the caller from the checkpoints


TAMPERS: list[Tamper] = [
    t_edit, t_edit_rehash, t_prev_rehash, t_time, t_delete, t_swap, t_reorder, t_truncate, t_rewrite_suffix,
]


async def test_thousand_tamperings_all_detected_first_bad_named(db_url: str) -> None:
    signer = new_signer()
    rng = random.Random(6962)
    sizes = sorted(rng.sample(range(1, N), 12))
    async with open_log(db_url, signer) as (alog, engine):
        await build(alog, sizes)
        async with engine.connect() as conn:
            clean = await verify_conn(conn, signer)
            await conn.rollback()
        assert clean.ok, clean.summary()
        checkpoint_sizes = sorted({*sizes, N})
        counts: dict[str, int] = {}
        async with engine.connect() as conn:
            for case in range(CASES):
                tamper = TAMPERS[case % len(TAMPERS)]
                await conn.begin()
                await bypass_triggers(conn)
                expected = await tamper(conn, rng)
                result = await verify_conn(conn, signer)
                await conn.rollback()
                assert not result.ok, f"case {case} {tamper.__name__} not detected"
                if isinstance(expected, tuple):
                    # Named: the start of the checkpoint interval holding the change.
                    k = expected[0]
                    lo = max([0, *[s for s in checkpoint_sizes if s <= k]])
                    assert result.first_bad == lo, (case, tamper.__name__, k, result.summary())
                else:
                    assert result.first_bad == expected, (case, tamper.__name__, expected, result.summary())
                counts[tamper.__name__] = counts.get(tamper.__name__, 0) + 1
        assert sum(counts.values()) == CASES
        async with engine.connect() as conn:  # every rollback restored the log and its triggers
            assert (await verify_conn(conn, signer)).ok
            await conn.rollback()


async def test_forged_checkpoint_rows_are_detected(db_url: str) -> None:
    signer = new_signer()
    async with open_log(db_url, signer) as (alog, engine):
        await build(alog, [40, 80])
        for sql in (
            "UPDATE access_log_checkpoints SET root_hash = '" + "ab" * 32 + "' WHERE size = 40",
            "UPDATE access_log_checkpoints SET note = replace(note, '\n80\n', '\n81\n') WHERE size = 80",
        ):
            async with engine.connect() as conn:
                await conn.begin()
                await bypass_triggers(conn)
                await conn.execute(text(sql))
                result = await verify_conn(conn, signer)
                await conn.rollback()
            assert not result.ok and result.first_bad is None, result.summary()
        other = new_signer()  # a checkpoint signed by another key does not count
        async with engine.connect() as conn:
            result = await verify_conn(conn, other)
            await conn.rollback()
        assert not result.ok


async def test_tail_truncated_with_its_checkpoints_is_caught_by_the_witness(db_url: str, tmp_path: Path) -> None:
    signer = new_signer()
    witness_path = tmp_path / "witness" / "checkpoints.jsonl"
    async with open_log(db_url, signer, witnesses=[FileWitness(witness_path)]) as (alog, engine):
        await build(alog, [30, 60, 90, 120])
        witness = read_witness_file(witness_path)
        assert [w.size for w in witness] == [30, 60, 90, 120, 150]
        async with engine.connect() as conn:
            await conn.begin()
            await bypass_triggers(conn)
            await conn.execute(delete(T).where(T.c.seq >= 100))
            await conn.execute(delete(CP).where(CP.c.size > 100))
            alone = await verify_conn(conn, signer)
            against = await verify_conn(conn, signer, witness)
            await conn.rollback()
        assert alone.ok  # the database alone cannot tell: what is left is consistent
        assert not against.ok and against.first_bad == 100, against.summary()

        # The stolen-key rewrite: drop the tail, append other entries, re-sign everything.
        async with engine.connect() as conn:
            await conn.begin()
            await bypass_triggers(conn)
            await conn.execute(delete(T).where(T.c.seq >= 100))
            await conn.execute(delete(CP).where(CP.c.size > 90))
            await conn.commit()
        async with open_log(db_url, signer) as (thief, _):
            for i in range(1000, 1060):
                await thief.record(event(i))
            await thief.checkpoint()
    forged = await verify_database(db_url, signer, origin=ORIGIN)
    assert forged.ok  # self-consistent, correctly signed
    detected = await verify_database(db_url, signer, origin=ORIGIN, witness_file=witness_path)
    assert not detected.ok and detected.first_bad == 90, detected.summary()
