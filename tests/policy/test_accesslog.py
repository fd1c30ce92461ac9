"""The access log on SQLite and PostgreSQL: appends, checkpoints, witnesses, proofs, triggers."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core.db import make_engine
from policy.audit.accesslog import AccessLog, AccessLogTampered
from policy.audit.entries import AccessAction, AccessEvent
from policy.audit.cli import verify_database
from policy.audit.encoding import entry_hash, leaf_of, payload_for
from policy.audit.reader import iter_entries, read_checkpoints
from policy.audit.merkle import verify_consistency, verify_inclusion
from policy.audit.signednote import open_checkpoint
from policy.audit.witness import FileWitness, HttpWitness, read_witness_file

from .logutil import ORIGIN, bypass_triggers, event, new_signer, open_log


def test_payload_is_canonical_and_carries_no_secret() -> None:
    ev = AccessEvent(
        action=AccessAction.PLAYBACK_START, actor="alice", camera="gate",
        start=datetime(2026, 3, 1, 12, 0, tzinfo=UTC), end=datetime(2026, 3, 1, 12, 5, 30, 250000, tzinfo=UTC),
        token_id="tok-1", details={"b": 1, "a": "x"},
    )
    payload = payload_for(7, datetime(2026, 3, 1, 12, 0, 1, tzinfo=UTC), ev)
    assert payload == (
        '{"action":"playback_start","actor":"alice","at":"2026-03-01T12:00:01.000000Z","camera":"gate",'
        '"details":{"a":"x","b":1},"end":"2026-03-01T12:05:30.250000Z","outcome":"ok","seq":7,'
        '"start":"2026-03-01T12:00:00.000000Z","token_id":"tok-1","v":1}'
    )
    assert json.loads(payload)["seq"] == 7


async def test_appends_are_gapless_chained_and_verify(db_url: str) -> None:
    signer = new_signer()
    async with open_log(db_url, signer) as (alog, engine):
        seqs = await asyncio.gather(*(alog.append(event(i)) for i in range(300)))
        assert sorted(seqs) == list(range(300))
        await alog.record(event(300))
        cp = await alog.checkpoint()
        assert cp is not None and cp.size == 301
        assert await alog.checkpoint() is None  # nothing new, nothing signed
        async with engine.connect() as conn:
            entries = [e async for e in iter_entries(conn)]
        prev = "00" * 32
        for i, e in enumerate(entries):
            assert (e.seq, e.prev_hash) == (i, prev)
            assert e.entry_hash == entry_hash(prev, e.payload)
            prev = e.entry_hash
    result = await verify_database(db_url, signer, origin=ORIGIN)
    assert result.ok, result.summary()
    assert (result.entries, result.checkpoints_verified, result.unsigned_tail) == (301, 1, 0)


async def test_log_refuses_update_and_delete(db_url: str) -> None:
    async with open_log(db_url) as (alog, engine):
        await alog.record(event(1))
        await alog.checkpoint()
        for sql in (
            "UPDATE access_log SET payload = 'x'",
            "DELETE FROM access_log",
            "UPDATE access_log_checkpoints SET note = 'x'",
            "DELETE FROM access_log_checkpoints",
        ):
            with pytest.raises(DBAPIError, match="append-only"):
                async with engine.begin() as conn:
                    await conn.execute(text(sql))
        if engine.dialect.name == "postgresql":
            for table in ("access_log", "access_log_checkpoints"):
                with pytest.raises(DBAPIError, match="append-only"):
                    async with engine.begin() as conn:
                        await conn.execute(text(f"TRUNCATE {table}"))
            # ENABLE ALWAYS: replica mode does not switch the triggers off.
            with pytest.raises(DBAPIError, match="append-only"):
                async with engine.begin() as conn:
                    await conn.execute(text("SET LOCAL session_replication_role = replica"))
                    await conn.execute(text("DELETE FROM access_log"))


async def test_checkpointer_signs_within_interval_and_flushes_on_cancel(db_url: str, tmp_path: Path) -> None:
    witness_path = tmp_path / "other-mount" / "witness.jsonl"
    signer = new_signer()
    async with open_log(
        db_url, signer, checkpoint_interval_s=0.2, witnesses=[FileWitness(witness_path)]
    ) as (alog, engine):
        task = asyncio.create_task(alog.run())
        try:
            await alog.record(event(0))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 1.0
            while True:
                async with engine.connect() as conn:
                    cps = await read_checkpoints(conn)
                if cps and cps[-1].size == 1:
                    break
                assert loop.time() < deadline, "no checkpoint within a second of the append"
                await asyncio.sleep(0.02)
            for i in range(1, 20):
                await alog.record(event(i))
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        async with engine.connect() as conn:
            cps = await read_checkpoints(conn)
        assert cps[-1].size == 20  # the final checkpoint on cancel covers everything
        assert open_checkpoint(cps[-1].note, signer, ORIGIN).size == 20
    witnessed = read_witness_file(witness_path)
    assert witnessed[-1].size == 20 and witnessed[0].size == 1
    result = await verify_database(db_url, signer, origin=ORIGIN, witness_file=witness_path)
    assert result.ok and result.witnessed_verified == len(witnessed), result.summary()


async def test_http_witness_receives_signed_notes(db_url: str) -> None:
    received: list[str] = []

    async def add(request: web.Request) -> web.Response:
        received.append(await request.text())
        return web.Response(status=200 if len(received) > 1 else 503)  # first push fails: retried

    app = web.Application()
    app.router.add_post("/witness", add)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    signer = new_signer()
    witness = HttpWitness(f"http://127.0.0.1:{port}/witness")
    try:
        async with open_log(db_url, signer, witnesses=[witness]) as (alog, _engine):
            await alog.record(event(0))
            await alog.checkpoint()
            await alog.checkpoint()  # the failed push is retried without a new append
            await alog.record(event(1))
            await alog.checkpoint()
    finally:
        await witness.close()
        await runner.cleanup()
    assert [open_checkpoint(n, signer, ORIGIN).size for n in received] == [1, 1, 2]


async def test_inclusion_and_consistency_proofs_from_the_database(db_url: str) -> None:
    signer = new_signer()
    async with open_log(db_url, signer) as (alog, engine):
        for i in range(13):
            await alog.record(event(i))
        old = await alog.checkpoint()
        # The proofs' tree is read once and grown with what is appended after (policy/audit/proofs.py).
        assert old is not None and (await alog.proofs.inclusion(3))[0] == 13
        for i in range(13, 37):
            await alog.record(event(i))
        new = await alog.checkpoint()
        assert old is not None and new is not None
        old_cp, new_cp = open_checkpoint(old.note, signer), open_checkpoint(new.note, signer)
        async with engine.connect() as conn:
            entries = [e async for e in iter_entries(conn)]
        for seq in (0, 12, 20, 36):
            size, proof = await alog.proofs.inclusion(seq)
            assert size == 37
            assert verify_inclusion(leaf_of(entries[seq].payload), seq, size, proof, new_cp.root_hash)
        size, proof = await alog.proofs.inclusion(5, 13)
        assert verify_inclusion(leaf_of(entries[5].payload), 5, 13, proof, old_cp.root_hash)
        cproof = await alog.proofs.consistency(13, 37)
        assert verify_consistency(13, 37, old_cp.root_hash, new_cp.root_hash, cproof)


async def test_checkpointer_refuses_to_sign_over_changed_history(db_url: str) -> None:
    signer = new_signer()
    async with open_log(db_url, signer) as (alog, engine):
        for i in range(5):
            await alog.record(event(i))
        await alog.checkpoint()
        async with engine.begin() as conn:
            await bypass_triggers(conn)
            await conn.execute(text("UPDATE access_log SET payload = replace(payload, 'user2', 'userX') WHERE seq = 2"))
    async with open_log(db_url, signer) as (restarted, _engine):  # a fresh process loads from the database
        await restarted.record(event(5))
        with pytest.raises(AccessLogTampered):
            await restarted.checkpoint()


@pytest.mark.parametrize("advisory_lock", [True, False])
async def test_separate_engines_never_fork(db_url: str, advisory_lock: bool) -> None:
    """Without PostgreSQL's advisory lock (and on SQLite) the unique seq/prev_hash plus retry keep one chain."""
    signer = new_signer()
    engines = [make_engine(db_url) for _ in range(8)]
    try:
        logs = [AccessLog(e, signer, origin=ORIGIN) for e in engines]
        for alog in logs:
            alog._pg = alog._pg and advisory_lock
        await asyncio.gather(*(alog.record(event(w * 100 + i)) for w, alog in enumerate(logs) for i in range(40)))
        await logs[0].checkpoint()
    finally:
        for e in engines:
            await e.dispose()
    result = await verify_database(db_url, signer, origin=ORIGIN)
    assert result.ok and result.entries == 320, result.summary()
