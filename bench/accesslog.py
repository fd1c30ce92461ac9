"""Access-log benchmark: appends per second (checkpointer running) and verification speed.

    .venv/bin/python bench/accesslog.py [--appends 20000] [--writers 64] [--verify 1000000] [--no-results]

Appends: `writers` concurrent callers in one process each `await log.record(...)` until
`appends` entries are committed (record() returns only after COMMIT: group commit),
with the checkpointer task running at the default 1 s interval. SQLite in a temp dir;
PostgreSQL in a fresh database on TEST_PG_ADMIN_URL (default postgres@127.0.0.1:5432).
Verify: `verify` entries generated in memory (chain hashes, payloads) with a signed
checkpoint every 10,000 entries, fed through LogVerifier, and the same from an export file.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from core.db import make_engine  # noqa: E402
from gateway.migrations import upgrade  # noqa: E402
from policy.audit.accesslog import AccessLog  # noqa: E402
from policy.audit.entries import AccessAction, AccessEvent  # noqa: E402
from policy.audit.export import FORMAT, verify_export  # noqa: E402
from policy.audit.encoding import GENESIS_PREV, LogEntry, StoredCheckpoint, entry_hash, leaf_of, payload_for, entry_time  # noqa: E402
from policy.audit.verify import LogVerifier  # noqa: E402
from policy.audit.merkle import CompactRange  # noqa: E402
from policy.audit.signednote import Checkpoint, NoteSigner  # noqa: E402

ORIGIN = "pantau/access-log"
PG_ADMIN = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def ev(i: int) -> AccessEvent:
    return AccessEvent(
        action=AccessAction.PLAYBACK_START, actor=f"user{i % 50}", role="operator", client="10.1.2.3",
        camera=f"cam-{i % 64}", start=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        end=dt.datetime(2026, 1, 1, 0, 5, tzinfo=dt.UTC), token_id=f"tok-{i}", reason="approved by sup1",
    )


async def bench_appends(url: str, signer: NoteSigner, appends: int, writers: int) -> dict[str, float]:
    engine = make_engine(url)
    alog = AccessLog(engine, signer, origin=ORIGIN, checkpoint_interval_s=1.0)
    counter = iter(range(appends))
    latencies: list[float] = []

    async def writer() -> None:
        for i in counter:
            t0 = time.perf_counter()
            await alog.record(ev(i))
            latencies.append(time.perf_counter() - t0)

    try:
        checkpointer = asyncio.create_task(alog.run())
        t0 = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(writers)))
        elapsed = time.perf_counter() - t0
        checkpointer.cancel()
        try:
            await checkpointer
        except asyncio.CancelledError:
            pass
    finally:
        await engine.dispose()
    latencies.sort()
    return {
        "appends": appends, "writers": writers, "seconds": elapsed, "per_s": appends / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000, "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
    }


def generate(n: int, signer: NoteSigner, every: int = 10_000) -> tuple[list[LogEntry], list[StoredCheckpoint]]:
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    created = entry_time(at)
    entries: list[LogEntry] = []
    cps: list[StoredCheckpoint] = []
    tree = CompactRange()
    prev = GENESIS_PREV
    for i in range(n):
        payload = payload_for(i, at, ev(i))
        h = entry_hash(prev, payload)
        entries.append(LogEntry(i, prev, h, payload, created))
        prev = h
        tree.append(leaf_of(payload))
        if (i + 1) % every == 0 or i + 1 == n:
            root = tree.root()
            cps.append(StoredCheckpoint(i + 1, root.hex(), signer.sign(Checkpoint(ORIGIN, i + 1, root).text()), created))
    return entries, cps


def bench_verify(n: int) -> dict[str, float]:
    signer = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    t0 = time.perf_counter()
    entries, cps = generate(n, signer)
    gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    v = LogVerifier(signer, cps, origin=ORIGIN)
    for e in entries:
        v.feed(e)
    result = v.finish()
    mem_s = time.perf_counter() - t0
    assert result.ok and result.entries == n, result.summary()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.jsonl"
        with path.open("w") as fh:
            fh.write(json.dumps({"kind": "header", "format": FORMAT, "first": 0, "stop": n, "anchor_size": n}) + "\n")
            for cp in cps:
                fh.write(json.dumps({"kind": "checkpoint", **cp.to_json()}) + "\n")
            for e in entries:
                fh.write(json.dumps({"kind": "entry", **e.to_json()}) + "\n")
        del entries
        t0 = time.perf_counter()
        fresult = verify_export(path, signer, origin=ORIGIN)
        file_s = time.perf_counter() - t0
        size_mb = path.stat().st_size / 1e6
    assert fresult.ok, fresult.summary()
    return {"entries": n, "generate_s": gen_s, "verify_memory_s": mem_s, "verify_file_s": file_s,
            "file_mb": size_mb, "checkpoints": len(cps)}


async def pg_database() -> str:
    name = f"pantau_bench_{os.getpid()}"
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop_pg(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--appends", type=int, default=20_000)
    ap.add_argument("--writers", type=int, default=64)
    ap.add_argument("--verify", type=int, default=1_000_000)
    ap.add_argument("--no-results", action="store_true")
    args = ap.parse_args()
    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        signer = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
        for writers in (1, args.writers):
            out[f"sqlite_w{writers}"] = asyncio.run(bench_appends(url, signer, args.appends if writers > 1 else 2000, writers))
    name = asyncio.run(pg_database())
    try:
        url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1) + "/" + name
        upgrade(url)
        signer = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
        for writers in (1, args.writers):
            out[f"postgresql_w{writers}"] = asyncio.run(bench_appends(url, signer, args.appends if writers > 1 else 2000, writers))
    finally:
        asyncio.run(drop_pg(name))
    out["verify"] = bench_verify(args.verify)
    print(json.dumps(out, indent=2))
    if not args.no_results:
        write_results(out)


def write_results(out: dict[str, object]) -> None:
    lines = [
        "",
        "## Access log (bench/accesslog.py)",
        "",
        f"{dt.date.today().isoformat()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; checkpointer running (1 s interval); every append committed "
        "before record() returns (group commit: concurrent callers share a transaction).",
        "",
        "| backend | concurrent callers | appends | appends/s | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for key, value in out.items():
        if key == "verify":
            continue
        r = value  # type: ignore[assignment]
        backend = key.split("_w")[0]
        lines.append(f"| {backend} | {r['writers']} | {r['appends']} | {r['per_s']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |")  # type: ignore[index]
    v = out["verify"]
    lines += [
        "",
        f"Verify {v['entries']:,} entries ({v['checkpoints']} signed checkpoints): "  # type: ignore[index]
        f"{v['verify_memory_s']:.1f} s from memory, {v['verify_file_s']:.1f} s from a "  # type: ignore[index]
        f"{v['file_mb']:.0f} MB export file (chain, seq, payload, Merkle root at every checkpoint, signatures).",  # type: ignore[index]
        "",
    ]
    with (ROOT / "bench" / "RESULTS.md").open("a") as fh:
        fh.write("\n".join(lines))


if __name__ == "__main__":
    main()
