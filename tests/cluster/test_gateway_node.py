"""A running gateway on PostgreSQL is a node: registered at start, heartbeating (on the database's
clock, whatever its own says), in /health and `pantau nodes`, marked stopped when it stops."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cluster.registry import list_nodes
from core.db import make_engine, make_sessionmaker
from tests.gatewayutil import make_settings, running_gateway

ROOT = Path(__file__).resolve().parents[2]


class BehindClock:
    """The gateway's own clock, an hour behind the database's: node ages must not use it."""

    def now(self) -> datetime:
        return datetime.now(UTC) - timedelta(hours=1)

    def monotonic(self) -> float:
        import time

        return time.monotonic()


async def nodes_command(url: str, data_dir: Path) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "nodes", cwd=data_dir.parent,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "PANTAU_DATABASE__URL": url,
             "PANTAU_DATA_DIR": str(data_dir)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_gateway_registers_heartbeats_and_stops_as_a_node(pg_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, pg_url, cluster={"lease_s": 2, "renew_s": 0.5, "capacity": 12})
    assert settings.cluster_enabled  # the default on PostgreSQL
    async with running_gateway(settings, BehindClock()) as client:
        node_id = f"{socket.gethostname()}:{client.gateway.port}"
        first = (await client.get_json("/health"))["checks"]["nodes:heartbeatAge"]
        assert [e["componentId"] for e in first] == [node_id]
        assert first[0]["output"] == "alive" and first[0]["status"] == "pass" and first[0]["cameras"] == []
        assert first[0]["links"] == {"self": f"http://{socket.gethostname()}:{client.gateway.port}"}
        assert 0 <= first[0]["observedValue"] < 2 and first[0]["observedUnit"] == "s"
        # Four renewal periods later it is still fresh: the heartbeat task runs.
        await asyncio.sleep(2.2)
        [entry] = (await client.get_json("/health"))["checks"]["nodes:heartbeatAge"]
        assert entry["output"] == "alive" and entry["observedValue"] < 1
        printed = await nodes_command(pg_url, tmp_path / "cli")
        assert printed.startswith(f"{node_id}  alive  heartbeat ") and "0/12 cameras" in printed
    engine = make_engine(pg_url)
    try:
        [node] = await list_nodes(make_sessionmaker(engine))
    finally:
        await engine.dispose()
    assert node.node_id == node_id and node.stopped_at is not None and node.capacity == 12


async def test_gateway_on_sqlite_is_no_node(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    async with running_gateway(settings) as client:
        assert "nodes" not in (await client.get_json("/health"))["checks"]
