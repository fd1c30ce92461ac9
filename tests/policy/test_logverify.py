"""Verification from exported files, offline: slices with proofs, whole logs, the CLI helper."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
from pathlib import Path

from policy.audit.signingkey import load_or_create_key, public_key_text, signer
from policy.audit.cli import verify_log
from policy.audit.export import export_log, verify_export
from policy.audit.encoding import GENESIS_PREV, LogEntry, entry_hash, payload_for
from policy.audit.verify import verify_entries

from .logutil import ORIGIN, event, new_signer, open_log

ROOT = Path(__file__).resolve().parents[2]


async def make_log(url: str, key_path: Path, n: int = 60) -> None:
    s = signer(load_or_create_key(key_path), ORIGIN)
    async with open_log(url, s) as (alog, _):
        for i in range(n):
            await alog.record(event(i))
            if i % 17 == 16:
                await alog.checkpoint()
        await alog.checkpoint()


def rewrite(path: Path, fn) -> None:  # type: ignore[no-untyped-def]
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(x) + "\n" for x in fn(lines)))


async def test_slice_export_verifies_offline_and_tampering_is_named(db_url: str, tmp_path: Path) -> None:
    key_path = tmp_path / "keys" / "access-log.pem"
    await make_log(db_url, key_path)
    pub = tmp_path / "access-log.pub"
    pub.write_text(public_key_text(load_or_create_key(key_path), ORIGIN).splitlines()[0] + "\n")
    async with open_log(db_url) as (_, engine):
        buf = io.StringIO()
        assert await export_log(engine, buf, first=20, stop=30) == 10
        whole = io.StringIO()
        assert await export_log(engine, whole, with_proofs=False) == 60
    slice_path, whole_path = tmp_path / "slice.jsonl", tmp_path / "whole.jsonl"
    slice_path.write_text(buf.getvalue())
    whole_path.write_text(whole.getvalue())

    # Only the files and the vkey line are needed: no database, no network.
    for path in (slice_path, whole_path):
        out = io.StringIO()
        assert verify_log(path, pub, origin=ORIGIN, out=out) == 0, out.getvalue()

    def edit_entry(lines: list[dict]) -> list[dict]:  # type: ignore[type-arg]
        for x in lines:
            if x.get("seq") == 25:
                x["payload"] = x["payload"].replace('"operator"', '"admin"')
                x["entry_hash"] = entry_hash(x["prev_hash"], x["payload"])
        return lines

    rewrite(slice_path, edit_entry)
    result = verify_export(slice_path, load_verifier_from(pub))
    assert not result.ok and result.first_bad == 25, result.summary()
    out = io.StringIO()
    assert verify_log(slice_path, pub, origin=ORIGIN, out=out) == 1
    assert "first bad entry seq=25" in out.getvalue()

    rewrite(whole_path, lambda lines: [x for x in lines if x.get("seq") != 40])
    result = verify_export(whole_path, load_verifier_from(pub))
    assert not result.ok and result.first_bad == 40, result.summary()


def load_verifier_from(pub: Path):  # type: ignore[no-untyped-def]
    from policy.audit.signingkey import load_verifier

    return load_verifier(pub, ORIGIN)


async def test_cli_helper_verifies_database_in_a_fresh_process(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    from gateway.migrations import upgrade

    await asyncio.to_thread(upgrade, url)
    key_path = tmp_path / "k.pem"
    await make_log(url, key_path, n=25)
    code = (
        "import sys; from pathlib import Path; from policy.audit.cli import verify_log; "
        f"sys.exit(verify_log({url!r}, Path({str(key_path)!r}), origin={ORIGIN!r}))"
    )
    proc = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "access log OK: 25 entries" in proc.stdout


def test_verifier_names_first_bad_in_memory_and_counts_unsigned_tail() -> None:
    from datetime import UTC, datetime

    s = new_signer()
    at = datetime(2026, 1, 1, tzinfo=UTC)
    entries, prev = [], GENESIS_PREV
    for i in range(10):
        payload = payload_for(i, at, event(i))
        h = entry_hash(prev, payload)
        entries.append(LogEntry(i, prev, h, payload, "2026-01-01T00:00:00.000000Z"))
        prev = h
    result = verify_entries(entries, [], s, origin=ORIGIN)
    assert result.ok and result.unsigned_tail == 10
    broken = entries[:3] + entries[4:]
    result = verify_entries(broken, [], s)
    assert result.first_bad == 3 and "missing" in result.summary()
