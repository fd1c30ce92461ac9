"""`pantau serve --workers 2` on a real PostgreSQL with 32 GStreamer test cameras: a supervisor and two
worker processes behind one HTTP port. Every camera is recorded, the leases (and so the cameras'
pulling and recording) are split between the workers, both use CPU, the public port reaches both, a
worker killed with -9 is started again and gets cameras back, and SIGTERM stops everything within
10 s with every segment sealed and indexed.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cluster.leases import lease_counts
from cluster.models import CameraLease, Node
from recorder.models import Segment
from recorder.store import QUARANTINE_DIR, SegmentStore, parse_segment_name
from tests.fixtures_camera import CameraServer, free_port
from tests.gatewayutil import until

ROOT = Path(__file__).resolve().parents[2]
CAMERAS = [f"c{n:02d}" for n in range(32)]
CLUSTER = {"lease_s": 4.0, "renew_s": 1.0}
SEGMENT_S = 2.0
CLOCK_TICK_S = os.sysconf("SC_CLK_TCK")


@contextmanager
def serve(tmp_path: Path, pg_url: str, server: CameraServer, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """`pantau serve --workers 2`, its log in tmp_path/gateway.log; every process it made is killed at the end."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "data_dir": str(tmp_path / "data"),
        "server": {"host": "127.0.0.1", "port": port},
        "database": {"url": pg_url},
        "storage": {"path": str(tmp_path / "rec")},
        "recording": {"segment_s": SEGMENT_S, "min_free_bytes": 0},
        "health": {"sample_interval_s": 30.0},
        "cluster": CLUSTER,
        "cameras": [{"id": cam, "source": server.url(cam)} for cam in CAMERAS],
    }))
    with (tmp_path / "gateway.log").open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "--config", str(config), "serve", "--workers", "2"], cwd=tmp_path,
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    try:
        yield proc
    finally:
        leftovers = _workers(proc.pid) if proc.poll() is None else {}
        for pid in [proc.pid, *leftovers.values()]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(timeout=10)


def _workers(supervisor: int) -> dict[int, int]:
    """The supervisor's worker processes: pid by worker index (from their --worker-index argument)."""
    found: dict[int, int] = {}
    try:
        children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    except OSError:
        return found
    for pid in map(int, children):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--worker-index" in argv:
            found[int(argv[argv.index(b"--worker-index") + 1])] = pid
    return found


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK_S


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def tail(log: Path) -> str:
    return log.read_text()[-4000:]


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


async def wait_for(check: Callable[[], object], within: float, what: str, log: Path) -> object:
    """`until` with the supervisor's log tail in the failure."""
    return await until(check, within, what, lambda: tail(log))


async def recorded_since(db: async_sessionmaker[AsyncSession], since: datetime, cameras: list[str]) -> bool:
    """Every camera in `cameras` has a sealed, indexed segment starting at or after `since`."""
    async with db() as session:
        seen = set((await session.scalars(
            select(Segment.camera_id).where(Segment.start >= since, Segment.camera_id.in_(cameras)).distinct())).all())
    return seen == set(cameras)


async def held_by(db: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    async with db() as session:
        return {lease.camera_id: lease.owner for lease in (await session.scalars(select(CameraLease))).all()}


@pytest.mark.timeout(150)
async def test_two_workers_split_32_cameras_use_both_cores_survive_a_kill_and_stop_sealed(
    tmp_path: Path, pg_url: str, db: async_sessionmaker[AsyncSession], camera_server: Callable[..., CameraServer],
) -> None:
    # The smallest stream: one shared encode of 160x90 for all 32 mounts, a keyframe a second.
    server = camera_server({cam: "ball+gop25+shared" for cam in CAMERAS}, size="160x90", bitrate=100)
    port = free_port()
    node = f"{os.uname().nodename}:{port}"
    w0, w1 = f"{node}/w0", f"{node}/w1"
    log = tmp_path / "gateway.log"
    with serve(tmp_path, pg_url, server, port) as proc:
        # Worker 0 starts alone and takes every camera; worker 1 joins and is handed its share.
        await wait_for(lambda: _counts_are(db, {w0: 16, w1: 16}), 60, "16 cameras a worker", log)
        settled = datetime.now(UTC)
        await wait_for(lambda: recorded_since(db, settled, CAMERAS), 20, "all 32 recorded since settling", log)
        owners = await held_by(db)
        async with db() as session:
            urls = {row.node_id: row.url for row in (await session.execute(select(Node.node_id, Node.url))).all()}
        assert set(urls) == {w0, w1}
        # Each worker answers at its own advertised URL; the public port reaches both.
        for url in urls.values():
            assert _get(f"{url}/livez")["status"] == "pass"
        answered = {_get(f"http://127.0.0.1:{port}/health").get("nodeId") for _ in range(40)}
        assert answered == {w0, w1}

        # Both worker processes work: each pulls and records its 16 cameras.
        pids = _workers(proc.pid)
        assert set(pids) == {0, 1}, pids
        before = {i: _cpu_s(pid) for i, pid in pids.items()}
        await asyncio.sleep(5)
        spent = {i: _cpu_s(pid) - before[i] for i, pid in pids.items()}
        total = sum(spent.values())
        assert all(cpu >= 0.3 * total for cpu in spent.values()), spent
        assert all(cpu >= 0.1 for cpu in spent.values()), spent

        # kill -9 worker 1: the supervisor starts it again, and its cameras record again.
        victim = pids[1]
        lost = sorted(cam for cam, owner in owners.items() if owner == w1)
        os.kill(victim, signal.SIGKILL)
        killed = datetime.now(UTC)

        def restarted() -> bool:
            again = _workers(proc.pid).get(1)
            return again is not None and again != victim

        await wait_for(restarted, 10, "worker 1 started again", log)
        await wait_for(lambda: recorded_since(db, killed, lost), 30, "worker 1's cameras recorded again", log)
        # ...and the new worker 1 holds leases again (it is handed its share back a camera a round).
        await wait_for(lambda: _holds_some(db, w1), 20, "worker 1 holding cameras again", log)
        assert "exited with signal SIGKILL" in log.read_text()
        # Whoever took the killed worker's cameras sealed what it left open (recovery at lease
        # acquisition), and never a file a live worker writes.
        store = SegmentStore(tmp_path / "rec")

        def left_by_the_dead() -> list[Path]:
            return [p for p in store.partials() if (named := parse_segment_name(p.name)) and named[1] < killed]

        await wait_for(lambda: not left_by_the_dead(), 20, "the killed worker's open files sealed", log)

        # SIGTERM: every worker seals and releases, then the supervisor exits, all within 10 s.
        workers = list(_workers(proc.pid).values())
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
        took = time.monotonic() - sent
        assert code == 0, log.read_text()[-4000:]
        assert took < 10, f"stopping took {took:.1f} s"
        assert not any(_alive(pid) for pid in workers)
    assert await lease_counts(db) == {}
    text = log.read_text()
    assert "Traceback" not in text, text[-4000:]
    async with db() as session:
        indexed = set((await session.scalars(select(Segment.path))).all())
        per_camera = {row[0]: row[1] for row in (await session.execute(
            select(Segment.camera_id, func.count()).group_by(Segment.camera_id))).all()}
    assert set(per_camera) == set(CAMERAS)
    assert not list(store.partials()), "a segment was left unsealed"
    assert {store.relative(p) for p in store.finals()} <= indexed
    # What the killed worker left open was recovered (a copy of its playable prefix, the original
    # quarantined), and nothing a live worker was writing under a lease it still held. A live worker
    # whose event loop a loaded machine stalls past lease_s loses its leases, and the other worker
    # takes those cameras over and recovers their open files as it should (the fenced writer's seal is
    # refused); those cameras are left out here, and the log must say so. (Sealed files in the
    # quarantine are fenced ones too.)
    fenced = set(re.findall(r"lost the lease on camera (\w+)", text))
    if fenced:
        print(f"leases lost by a live worker on a loaded machine: {sorted(fenced)}")
    quarantine = store.root / QUARANTINE_DIR
    for path in quarantine.glob("*.part") if quarantine.exists() else ():
        named = parse_segment_name(path.name)
        assert named is not None and (named[1] < killed or named[0] in fenced), path.name
    recovered = [s for s in await _segments(db) if s.status == "recovered"]
    assert all(s.start < killed or s.camera_id in fenced for s in recovered), [(s.path, s.start) for s in recovered]
    failed = re.findall(r"camera (\w+): writing a segment failed", text)
    assert set(failed) <= fenced, text[-4000:]
    print(f"workers: CPU over 5 s {', '.join(f'w{i} {s:.2f} s' for i, s in sorted(spent.items()))}; "
          f"stopped in {took:.1f} s")


async def _segments(db: async_sessionmaker[AsyncSession]) -> list[Segment]:
    async with db() as session:
        return list((await session.scalars(select(Segment))).all())


async def _holds_some(db: async_sessionmaker[AsyncSession], node: str) -> bool:
    return (await lease_counts(db)).get(node, 0) > 0


async def _counts_are(db: async_sessionmaker[AsyncSession], expected: dict[str, int]) -> bool:
    return await lease_counts(db) == expected
