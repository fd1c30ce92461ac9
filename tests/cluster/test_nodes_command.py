"""`pantau nodes` in a subprocess: the nodes of a PostgreSQL database with their cameras; refused on SQLite."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from cluster.leases import LeaseBook
from cluster.registry import NodeRegistry
from core.db import make_engine, make_sessionmaker

ROOT = Path(__file__).resolve().parents[2]


def pantau(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args], cwd=cwd, capture_output=True, text=True, timeout=60,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **env},
    )


async def two_nodes(url: str) -> None:
    engine = make_engine(url)
    try:
        db = make_sessionmaker(engine)
        await NodeRegistry(db, "cctv-a:8080").register("http://cctv-a:8080", 8)
        stopped = NodeRegistry(db, "cctv-b:8080")
        await stopped.register("http://cctv-b:8080", 8)
        await stopped.mark_stopped()
        book = LeaseBook(db, "cctv-a:8080", 30)
        for camera in ("gate-north", "yard"):
            assert await book.acquire(camera) is not None
    finally:
        await engine.dispose()


def test_nodes_lists_nodes_states_and_leases(pg_url: str, tmp_path: Path) -> None:
    env = {"PANTAU_DATABASE__URL": pg_url, "PANTAU_DATA_DIR": str(tmp_path / "data")}
    empty = pantau("nodes", cwd=tmp_path, env=env)
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout == "no nodes registered\n"
    asyncio.run(two_nodes(pg_url))
    result = pantau("nodes", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("cctv-a:8080  alive  heartbeat ") and lines[0].endswith("2/8 cameras  http://cctv-a:8080")
    assert lines[1].startswith("  gate-north  epoch 1  held ") and "expires in" in lines[1]
    assert lines[2].startswith("  yard  epoch 1  held ")
    assert lines[3].startswith("cctv-b:8080  stopped  heartbeat ") and len(lines) == 4


def test_nodes_on_sqlite_says_why_not(tmp_path: Path) -> None:
    result = pantau("nodes", cwd=tmp_path, env={"PANTAU_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 1
    assert "PostgreSQL" in result.stderr and "SQLite" in result.stderr
