"""The access log through a running gateway: one entry per action, proofs, offline verification."""

from __future__ import annotations

import asyncio
import collections
import io
import re
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import text

from core.config import CameraConfig
from policy.audit.signingkey import load_verifier
from policy.audit.export import verify_export
from policy.audit.merkle import verify_inclusion
from tests.gatewayutil import Client, make_settings, running_gateway

ROOT = Path(__file__).resolve().parent.parent
CAMERAS = [
    CameraConfig(id="lobby", source="demo://pattern", groups=["indoor"], enabled=False),
    CameraConfig(id="gate", source="demo://pattern", groups=["gates"], enabled=False),
]
VISIBILITY = {"access": {"visibility": {"viewer": ["indoor"], "operator": ["*"], "admin": ["*"], "auditor": []}}}


async def entries(client: Client, token: str, **filters: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = -1
    while True:
        query = "&".join([f"after={after}", "limit=1000", *(f"{k}={v}" for k, v in filters.items())])
        body = await client.get_json(f"/api/v1/access-log?{query}", token)
        out += body["entries"]
        if body["next_after"] is None:
            return out
        after = body["next_after"]


async def test_scripted_session_gives_one_entry_per_action(tmp_path: Path, db_url: str) -> None:
    async with running_gateway(make_settings(tmp_path, db_url, CAMERAS, **VISIBILITY)) as client:
        services = client.gateway.services
        assert services is not None
        await services.users.add("vera", "viewer", "vera-password-1")
        await services.users.add("audrey", "auditor", "audrey-password-1")
        url = client.url("/api/v1/session")
        # 1 failed sign-in
        async with client.http.post(url, json={"username": "vera", "password": "wrong-password"}) as resp:
            assert resp.status == 401
        # 2 sign-ins
        vera = await client.sign_in("vera", "vera-password-1")
        admin = await client.sign_in("admin", client.admin_password())
        # 1 denied decision: vera may not see the gate camera (answers 404, logged as a deny)
        await client.get_json("/api/v1/cameras/gate", vera, status=404)
        # camera listing and detail are not logged as views; a snapshot is (1 allowed decision)
        await client.get_json("/api/v1/cameras", vera)
        await client.get_json("/api/v1/cameras/lobby", vera)
        async with client.http.get(client.url("/api/v1/cameras/lobby/snapshot.jpg"),
                                   headers={"Authorization": f"Bearer {vera}"}) as resp:
            assert resp.status == 503  # disabled camera: no picture, but the view was decided
        # 1 denied decision: a viewer may not read the log
        await client.get_json("/api/v1/access-log", vera, status=403)
        # 1 sign-out
        async with client.http.delete(client.url("/api/v1/session"), headers={"Authorization": f"Bearer {vera}"}) as resp:
            assert resp.status == 204
        del admin
        auditor = await client.sign_in("audrey", "audrey-password-1")  # 1 more sign-in
        log = await entries(client, auditor)

    counts = collections.Counter((e["payload"]["action"], e["payload"]["outcome"]) for e in log)
    assert counts == {
        ("config_changed", "ok"): 1,
        ("user_created", "ok"): 1,  # the bootstrap admin; users added in code are not API actions
        ("sign_in_failed", "deny"): 1,
        ("sign_in", "ok"): 3,
        ("decision", "deny"): 2,
        ("decision", "allow"): 1,
        ("sign_out", "ok"): 1,
    }, counts
    seqs = [e["seq"] for e in log]
    assert seqs == list(range(len(log)))
    denied = [e["payload"] for e in log if e["payload"]["action"] == "decision" and e["payload"]["outcome"] == "deny"]
    assert {d["details"]["action"] for d in denied} == {"view_camera", "read_access_log"}
    assert all(d["actor"] == "vera" and d["reason"] for d in denied)
    assert "wrong-password" not in json.dumps(log) and "vera-password-1" not in json.dumps(log)
    assert all("pts_" not in e["payload"] for e in log)  # no bearer token ever logged


async def test_auditor_verifies_an_export_offline_with_only_the_public_key(tmp_path: Path, db_url: str) -> None:
    async with running_gateway(make_settings(tmp_path, db_url)) as client:
        admin = await client.sign_in("admin", client.admin_password())
        for _ in range(3):
            await client.sign_in("admin", client.admin_password())
        await asyncio.sleep(1.5)  # a checkpoint covers every append within a second
        checkpoints = await client.get_json("/api/v1/access-log/checkpoints", admin)
        newest = checkpoints["checkpoints"][0]
        # The log is named for this installation: host and key fingerprint (policy/audit/origin.py).
        origin = newest["note"].split("\n", 1)[0]
        assert newest["size"] >= 6 and re.fullmatch(r"[A-Za-z0-9.-]+/pantau/access-log/[0-9a-f]{16}", origin), origin
        async with client.http.get(client.url("/api/v1/access-log/public-key")) as resp:
            assert resp.status == 200
            public = await resp.text()
        proof = await client.get_json(f"/api/v1/access-log/proofs/inclusion?seq=2&size={newest['size']}", admin)
        log = await entries(client, admin)
        async with client.http.get(client.url("/api/v1/access-log/export"),
                                   headers={"Authorization": f"Bearer {admin}"}) as resp:
            assert resp.status == 200
            export = await resp.text()
        await client.get_json("/api/v1/access-log/proofs/inclusion?seq=999999", admin, status=404)
        await client.get_json("/api/v1/access-log/proofs/consistency?old=5&new=2", admin, status=400)
    # Offline: a fresh directory with the export and the public key, nothing else.
    offline = tmp_path / "auditor"
    offline.mkdir()
    (offline / "log.jsonl").write_text(export)
    (offline / "log.pub").write_text(public)
    assert public.startswith(origin + "+")  # the published key names the log
    verifier = load_verifier(offline / "log.pub", origin)
    result = verify_export(offline / "log.jsonl", verifier, origin=origin)
    assert result.ok, result.summary()
    from policy.audit.encoding import leaf_of

    entry = next(e for e in log if e["seq"] == 2)
    payload = json.dumps(entry["payload"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert verify_inclusion(
        leaf_of(payload), 2, proof["size"], [bytes.fromhex(h) for h in proof["proof"]],
        bytes.fromhex(newest["root_hash"]),
    )
    # The CLI says the same, and names the first bad entry once a byte changes.
    cli = [sys.executable, "-m", "gateway", "verify-log", "--from-file", str(offline / "log.jsonl"),
           "--public-key", str(offline / "log.pub")]
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)}
    ok = await asyncio.to_thread(subprocess.run, cli, cwd=offline, capture_output=True, text=True, timeout=60, env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    lines = export.splitlines()
    index = next(i for i, line in enumerate(lines) if '"seq": 3' in line and '"kind": "entry"' in line)
    lines[index] = lines[index].replace("sign_in", "sign_iN", 1)
    (offline / "log.jsonl").write_text("\n".join(lines) + "\n")
    bad = await asyncio.to_thread(subprocess.run, cli, cwd=offline, capture_output=True, text=True, timeout=60, env=env)
    assert bad.returncode == 1
    assert "seq=3" in bad.stdout, bad.stdout


async def test_database_rejects_edits_and_verify_log_reads_the_database(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    async with running_gateway(make_settings(tmp_path, db)) as client:
        await client.sign_in("admin", client.admin_password())
        services = client.gateway.services
        assert services is not None
        async with services.engine.connect() as conn:
            for sql in ("UPDATE access_log SET payload = 'x' WHERE seq = 0", "DELETE FROM access_log"):
                try:
                    await conn.execute(text(sql))
                    raise AssertionError(f"{sql} was allowed")
                except Exception as exc:  # the trigger's error, whatever the driver calls it
                    assert "append-only" in str(exc).lower() or "not allowed" in str(exc).lower() or "abort" in str(exc).lower(), exc
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "PANTAU_DATABASE__URL": db,
           "PANTAU_DATA_DIR": str(tmp_path / "data")}
    ok = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "gateway", "verify-log"], cwd=tmp_path, capture_output=True,
                        text=True, timeout=60, env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    key = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "gateway", "log-key"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60, env=env)
    assert key.returncode == 0 and "BEGIN PUBLIC KEY" in key.stdout and "PRIVATE" not in key.stdout
    origin = (tmp_path / "data" / "keys" / "access-log.origin").read_text().strip()
    assert "/pantau/access-log/" in origin and io.StringIO(key.stdout).readline().startswith(origin + "+")


async def test_tampered_history_raises_the_alarm_on_the_next_start(tmp_path: Path) -> None:
    import sqlite3

    db_file = tmp_path / "p.db"
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{db_file}")
    async with running_gateway(settings) as client:
        await client.sign_in("admin", client.admin_password())
        await asyncio.sleep(1.5)  # a signed checkpoint covers the entries
    # As someone with the database file would: drop the trigger, edit an entry.
    conn = sqlite3.connect(db_file)
    conn.execute("DROP TRIGGER access_log_no_update")
    conn.execute("UPDATE access_log SET payload = replace(payload, 'sign_in', 'sign_out') WHERE seq = 2")
    conn.commit()
    conn.close()
    async with running_gateway(settings) as client:
        await asyncio.sleep(1.5)
        async with client.http.get(client.url("/health")) as resp:
            assert resp.status == 503
            health = await resp.json(content_type=None)
        check = health["checks"]["accessLog:integrity"][0]
        assert check["status"] == "fail" and "tampered" in check["output"]
        async with client.http.get(client.url("/metrics")) as resp:
            assert "pantau_access_log_tampered 1.0" in await resp.text()
        # ... and tells the room at once: one accesslog.tampered alert, naming what is wrong.
        admin = await client.sign_in("admin", client.admin_password())
        alerts = (await client.get_json("/api/v1/alerts?kinds=accesslog.tampered", admin))["alerts"]
        assert len(alerts) == 1 and alerts[0]["severity"] == "critical", alerts
        assert alerts[0]["camera"] is None and alerts[0]["details"]["problem"], alerts
