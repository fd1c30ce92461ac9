"""Workers benchmark: how many 1080p25 cameras `pantau serve --workers W` holds on this machine, every
camera at full frame rate, for W = 1, 2, 4.

    .venv/bin/python bench/workers.py [--workers 1,2,4] [--n 16,32,48,64,80,96] [--window S]
                                      [--no-results]

The cameras are bench/ingest.py's source: tests/camera_server.py re-serving one pre-encoded 1080p25
~3 Mbit/s H.264 file on one shared mount, every camera an RTSP client of it (the camera server runs on
the same machine and its CPU counts against the gateway's). For each W the camera count climbs the
ladder on a fresh PostgreSQL database until a step fails; a step is a whole `pantau serve --workers W`
with N cameras (recording, 10 s segments, default health sampling). Once the leases are spread (each
worker holding its share), every camera has sealed a segment since, and after a warm-up, each
worker's own port is read twice, `window` apart:
`/metrics` packets and hub drops of the cameras it pulls. A step holds when every camera delivered
at least 90 % of 25 fps over the window, no hub dropped a packet, and every camera has an indexed
segment in the window. The machine is shared with other work: the numbers are indicative.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import asyncpg  # noqa: E402
import yaml  # noqa: E402

import ingest  # noqa: E402  (bench/ingest.py: Server, ensure_media, system_cpu, busy_cores, versions, log)

RESULTS = ROOT / "bench" / "RESULTS.md"
PG_ADMIN = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
FPS = 25.0
FULL = 0.9 * FPS
SEGMENT_S = 10.0
LEASE_S, RENEW_S = 6.0, 1.0
METRIC = re.compile(r'^(pantau_camera_packets_total|pantau_hub_dropped_packets_total)\{camera="([^"]+)"\} (\S+)$')


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _fetch(url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


def query(url: str, sql: str) -> list[asyncpg.Record]:
    return asyncio.run(_fetch(url, sql))


def scrape(base: str) -> dict[str, dict[str, float]]:
    """packets and dropped by camera from one worker's /metrics."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        if m := METRIC.match(line):
            kind = "packets" if m.group(1).startswith("pantau_camera") else "dropped"
            out.setdefault(m.group(2), {})[kind] = float(m.group(3))
    return out


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of the gateway: the process and its workers (the supervisor's children)."""
    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        children = []
    return sum(ingest.proc_cpu_s(p) or 0.0 for p in [pid, *children])


def trial(server: ingest.Server, workers: int, n: int, args: argparse.Namespace, home: Path) -> dict[str, Any]:
    """One `pantau serve --workers W` with N cameras; returns what the window measured."""
    name = f"pantau_bench_workers_{os.getpid()}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN.rsplit("/", 1)[0]
    db_url = f"{base}/{name}"
    port = ingest.free_port()
    config = home / "config.yaml"
    config.write_text(yaml.safe_dump({
        "data_dir": str(home / "data"),
        "server": {"host": "127.0.0.1", "port": port, "workers": workers},
        "database": {"url": db_url.replace("postgresql://", "postgresql+asyncpg://", 1)},
        "storage": {"path": str(home / "rec")},
        "recording": {"segment_s": SEGMENT_S, "min_free_bytes": 0},
        "logging": {"level": "WARNING"},
        # capacity: the cameras one node may hold (default 64) must not be what limits a step.
        "cluster": {"lease_s": LEASE_S, "renew_s": RENEW_S, "capacity": 10_000},
        "cameras": [{"id": f"cam{i:03d}", "source": server.url()} for i in range(n)],
    }))
    log_path = home / "gateway.log"
    result: dict[str, Any] = {"workers": workers, "n": n, "ok": False, "why": ""}
    with log_path.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gateway", "--config", str(config), "serve"], cwd=home,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        share = -(-n // workers)
        deadline = time.monotonic() + 30 + n * RENEW_S
        counts: dict[str, int] = {}
        while time.monotonic() < deadline:
            time.sleep(1)
            if proc.poll() is not None:
                result["why"] = f"gateway exited {proc.returncode}"
                return result
            try:
                rows = query(db_url, "SELECT owner, count(*) AS c FROM camera_leases GROUP BY owner")
            except (OSError, asyncpg.PostgresError):
                continue
            counts = {r["owner"]: r["c"] for r in rows}
            if len(counts) == workers and sum(counts.values()) == n and max(counts.values()) <= share:
                break
        else:
            result["why"] = f"leases not spread in time: {sorted(counts.values())}"
            return result
        # Every camera recording where it will stay (a segment indexed since the leases settled), so
        # no W is measured during its start-up: one worker starts all N at once, several hand them over.
        settled = dt.datetime.now(dt.UTC)
        deadline = time.monotonic() + 3 * SEGMENT_S + 30
        recording = 0
        while time.monotonic() < deadline:
            time.sleep(1)
            recording = len(query(db_url, "SELECT DISTINCT camera_id FROM recording_segments "
                                          f"WHERE start >= '{settled.isoformat()}'"))
            if recording == n:
                break
        else:
            result["why"] = f"only {recording}/{n} cameras recording {3 * SEGMENT_S + 30:g} s after the leases settled"
            return result
        time.sleep(args.warmup)
        urls = [r["url"] for r in query(db_url, "SELECT url FROM nodes WHERE stopped_at IS NULL")]
        t0, sys0, cpu0 = time.monotonic(), ingest.system_cpu(), tree_cpu_s(proc.pid)
        first = {u: scrape(u) for u in urls}
        started = dt.datetime.now(dt.UTC)
        time.sleep(args.window)
        last = {u: scrape(u) for u in urls}
        t1, sys1, cpu1 = time.monotonic(), ingest.system_cpu(), tree_cpu_s(proc.pid)
        held = {r["camera_id"]: r["url"] for r in query(
            db_url, "SELECT l.camera_id, n.url FROM camera_leases l JOIN nodes n ON n.node_id = l.owner")}
        fps: list[float] = []
        dropped = 0.0
        for camera, url in held.items():
            a, b = first.get(url, {}).get(camera), last.get(url, {}).get(camera)
            if a is None or b is None or "packets" not in a or "packets" not in b:
                fps.append(0.0)
                continue
            fps.append((b["packets"] - a["packets"]) / (t1 - t0))
            dropped += b.get("dropped", 0.0) - a.get("dropped", 0.0)
        recorded = {r["camera_id"] for r in query(
            db_url, f"SELECT DISTINCT camera_id FROM recording_segments WHERE \"end\" > '{started.isoformat()}'")}
        result.update(fps_min=min(fps) if fps else 0.0, fps_median=sorted(fps)[len(fps) // 2] if fps else 0.0,
                      dropped=dropped, recorded=len(recorded), held=len(held),
                      busy=ingest.busy_cores(sys0, sys1), gateway_cores=(cpu1 - cpu0) / (t1 - t0))
        result["ok"] = len(held) == n and len(recorded) == n and dropped == 0 and min(fps, default=0) >= FULL
        if not result["ok"]:
            result["why"] = (f"held {len(held)}/{n}, recorded {len(recorded)}/{n}, min fps {result['fps_min']:.1f}, "
                             f"dropped {dropped:.0f}")
        return result
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--n", default="16,32,48,64,80,96", help="camera counts to climb")
    ap.add_argument("--window", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=6.0)
    ap.add_argument("--no-results", action="store_true")
    args = ap.parse_args()
    media = ingest.ensure_media()
    ladder = [int(v) for v in args.n.split(",")]
    rows: list[tuple[int, int, list[dict[str, Any]]]] = []
    started = time.monotonic()
    for workers in (int(v) for v in args.workers.split(",")):
        steps: list[dict[str, Any]] = []
        for n in ladder:
            ingest.OUT.mkdir(parents=True, exist_ok=True)
            home = Path(tempfile.mkdtemp(prefix="bench-workers-", dir=ingest.OUT))
            server = ingest.Server(media)  # fresh per step: a shared file mount left by clients can refuse opens
            server.start()
            try:
                ingest.log(f"workers={workers} cameras={n}")
                res = trial(server, workers, n, args, home)
            finally:
                server.stop()
                shutil.rmtree(home, ignore_errors=True)
            ingest.log(f"  {'holds' if res['ok'] else 'fails'}: {res.get('why') or ''} "
                       f"min/median fps {res.get('fps_min', 0):.1f}/{res.get('fps_median', 0):.1f}, "
                       f"gateway cores {res.get('gateway_cores', 0):.2f}, busy cores {res.get('busy', 0):.2f}")
            steps.append(res)
            if not res["ok"]:
                break
        held = max((s["n"] for s in steps if s["ok"]), default=0)
        rows.append((workers, held, steps))
    text = render(rows, args, ingest.versions(), time.monotonic() - started)
    print(text)
    if not args.no_results:
        RESULTS.write_text(RESULTS.read_text().rstrip("\n") + "\n\n" + text + "\n")
        ingest.log(f"appended to {RESULTS}")


def render(rows: list[tuple[int, int, list[dict[str, Any]]]], args: argparse.Namespace, info: dict[str, str],
           took: float) -> str:
    load = os.getloadavg()
    out = [f"## Workers: 1080p cameras held at full frame rate (bench/workers.py), "
           f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC", "",
           f"- Machine: {info['machine']}; load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
           "(the machine is shared with other work: indicative numbers)",
           f"- Code: {info['commit']}; {info['pyav']}",
           f"- Cameras: {ingest.MEDIA.name} (1080p25 H.264 ~3 Mbit/s, GOP 2 s) from one shared mount of "
           "tests/camera_server.py on the same machine; PostgreSQL on the same machine",
           f"- Each step: `pantau serve --workers W` with N cameras, recording (10 s segments), default health "
           f"sampling; leases {LEASE_S:g} s / renewal {RENEW_S:g} s, cluster.capacity 10000; measured {args.window:g} s once the leases "
           f"were spread, every camera had sealed a segment since and {args.warmup:g} s of warm-up. Holds: every camera >= {FULL:g} fps, no hub drop, "
           "every camera with a segment indexed in the window. Ladder: " + args.n,
           f"- Run time {took / 60:.0f} min", "",
           "| workers | cameras held (largest step that held) | steps (N: min fps, gateway cores, machine busy cores) "
           "| first failing step |",
           "|---|---|---|---|"]
    for workers, held, steps in rows:
        tried = "; ".join(f"{s['n']}: {s.get('fps_min', 0):.1f}, {s.get('gateway_cores', 0):.2f}, "
                          f"{s.get('busy', 0):.2f}" for s in steps)
        failed = next((f"N={s['n']}: {s['why']}" for s in steps if not s["ok"]), "none (ladder ended)")
        out.append(f"| {workers} | {held} | {tried} | {failed} |")
    return "\n".join(out)


if __name__ == "__main__":
    main()
