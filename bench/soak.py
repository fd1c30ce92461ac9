"""Soak: 12 cameras recorded by a `pantau serve` (SQLite), one camera cut and restored every 30 s.

    .venv/bin/python bench/soak.py [--minutes 10] [--cameras 12] [--cut-every 30] [--outage 10]
                                   [--no-results]

Each camera is its own tests/camera_server.py process (a small `ball` stream, 320x180 200 kbit/s),
started through tests/fixtures_camera.CameraServer. Every --cut-every seconds the next camera in turn
is killed (SIGKILL, like a camera losing power) and started again on the same port --outage seconds
later. The gateway's RSS (VmRSS), threads (/proc/PID/status) and open fds (/proc/PID/fd) are sampled
every 10 s. The first --warmup seconds (default 60) of the run are warm-up: growth is measured from
the first sample after it to the last one.

Checked at the end, from the gateway's SQLite index (table recording_gaps): for every outage exactly
one gap row of that camera covering it (starting at most GAP_SLACK_S after the cut, ending after the
restore), every gap row closed, and no gap row that belongs to no outage. Goals: RSS growth under
50 MB, no fd or thread growth. Not in CI: it takes --minutes plus about a minute.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures_camera import CameraServer, free_port  # noqa: E402
from tests.processes import stop  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
SAMPLE_EVERY_S = 10.0
RSS_GOAL_MB = 50.0
# A gap starts where recording stopped: at the last packet before the cut, or (the connection
# ends at once when the server is killed) at most a read timeout after it.
GAP_SLACK_S = 6.0
# After the last restore: time for the camera to reconnect and its gap row to be closed.
SETTLE_S = 20.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclass
class Outage:
    camera: str
    cut: dt.datetime
    restored: dt.datetime | None = None


@dataclass
class Sample:
    t: float  # seconds since the cuts began
    rss_mb: float
    fds: int
    threads: int
    cameras_up: int


def proc_sample(pid: int) -> tuple[float, int, int]:
    """(VmRSS MB, open fds, threads) of one process."""
    rss_kb = threads = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss_kb / 1024, len(os.listdir(f"/proc/{pid}/fd")), threads


def children(pid: int) -> list[int]:
    """Direct child processes of pid (the gateway should have none on SQLite with one worker)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except FileNotFoundError:
        return []


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def parse_ts(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    ts = dt.datetime.fromisoformat(value)
    return ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)


def start_gateway(home: Path, servers: dict[str, CameraServer], args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    config = {
        "data_dir": str(home / "data"),
        "server": {"host": "127.0.0.1", "port": port},
        "database": {"url": f"sqlite+aiosqlite:///{home / 'pantau.db'}"},
        "storage": {"path": str(home / "rec")},
        "recording": {"segment_s": args.segment},
        "cameras": [
            # A short backoff cap: the camera is back within ~2 s of its restore, so gaps end near it.
            {"id": cam, "source": server.url("live"), "backoff": {"initial_s": 0.5, "max_s": 2.0}}
            for cam, server in servers.items()
        ],
    }
    path = home / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PANTAU_")}, "PYTHONPATH": str(ROOT)}
    log_path = home / "gateway.log"
    with log_path.open("w") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "gateway", "--config", str(path), "serve"], cwd=home,
                                stdout=log_file, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError("gateway exited:\n" + log_path.read_text()[-3000:])
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2):
                break
        except (OSError, urllib.error.HTTPError):
            if time.monotonic() > deadline:
                raise RuntimeError("gateway not ready in 60 s:\n" + log_path.read_text()[-3000:]) from None
            time.sleep(0.5)
    return proc, base, log_path


def segments_per_camera(db: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return dict(conn.execute("SELECT camera_id, count(*) FROM recording_segments GROUP BY camera_id").fetchall())


def gap_rows(db: Path) -> list[tuple[str, dt.datetime, dt.datetime | None, str]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        rows = conn.execute('SELECT camera_id, start, "end", reason FROM recording_gaps WHERE stream = ? ORDER BY start',
                            ("main",)).fetchall()
    return [(cam, parse_ts(start), parse_ts(end), reason) for cam, start, end, reason in rows]  # type: ignore[misc]


def check_gaps(outages: list[Outage], gaps: list[tuple[str, dt.datetime, dt.datetime | None, str]],
               since: dt.datetime) -> tuple[list[str], list[float], list[float]]:
    """Problems (empty: every outage has exactly one covering gap and no gap is left over), and the
    offsets gap start - cut and gap end - restore, seconds."""
    problems: list[str] = []
    starts: list[float] = []
    ends: list[float] = []
    used: set[int] = set()
    for o in outages:
        assert o.restored is not None
        mine = [
            i for i, (cam, start, end, _) in enumerate(gaps)
            if cam == o.camera and start <= o.restored and (end is None or end >= o.cut)
        ]
        if len(mine) != 1:
            problems.append(f"{o.camera} cut {o.cut:%H:%M:%S}-{o.restored:%H:%M:%S}: {len(mine)} gap rows "
                            f"{[(str(gaps[i][1]), str(gaps[i][2]), gaps[i][3]) for i in mine]}")
            used.update(mine)
            continue
        i = mine[0]
        used.add(i)
        _, start, end, reason = gaps[i]
        if end is None:
            problems.append(f"{o.camera} cut {o.cut:%H:%M:%S}: its gap is still open ({reason})")
            continue
        starts.append((start - o.cut).total_seconds())
        ends.append((end - o.restored).total_seconds())
        if start > o.cut + dt.timedelta(seconds=GAP_SLACK_S) or end < o.restored:
            problems.append(f"{o.camera} cut {o.cut:%H:%M:%S}-{o.restored:%H:%M:%S}: gap {start:%H:%M:%S.%f}-"
                            f"{end:%H:%M:%S.%f} does not cover it")
    for i, (cam, start, end, reason) in enumerate(gaps):
        if i not in used and start >= since:
            problems.append(f"{cam}: gap {start} - {end} ({reason}) belongs to no outage")
    return problems, starts, ends


def run(args: argparse.Namespace) -> dict[str, object]:
    home = Path(tempfile.mkdtemp(prefix="pantau-soak-"))
    names = [f"cam{i:02d}" for i in range(args.cameras)]
    servers = {cam: CameraServer({"live": "ball"}, size="320x180", bitrate=200) for cam in names}
    proc: subprocess.Popen[bytes] | None = None
    load_before = os.getloadavg()
    try:
        for server in servers.values():
            server.start()
        log(f"{len(servers)} cameras up; starting the gateway in {home}")
        proc, _base, log_path = start_gateway(home, servers, args)
        db = home / "pantau.db"
        # Every camera recording (one sealed segment each) before the cuts begin.
        deadline = time.monotonic() + 120
        while len(segments_per_camera(db)) < len(names):
            if time.monotonic() > deadline:
                raise RuntimeError(f"not every camera sealed a segment in 120 s: {segments_per_camera(db)}")
            time.sleep(2)
        log(f"every camera recording; child processes of the gateway: {children(proc.pid)}")
        began_wall = utcnow()
        began = time.monotonic()
        end_at = began + args.minutes * 60
        samples: list[Sample] = []
        outages: list[Outage] = []
        current: Outage | None = None
        current_restore_at = 0.0
        next_cut = began
        next_sample = began + SAMPLE_EVERY_S / 2  # between cut and restore events
        turn = 0
        loads: list[float] = []
        while True:
            now = time.monotonic()
            if current is not None and now >= current_restore_at:
                servers[current.camera].start()
                current.restored = utcnow()
                log(f"restored {current.camera}")
                current = None
            if now >= end_at and current is None:
                break
            if now >= next_cut and now < end_at and current is None:
                cam = names[turn % len(names)]
                turn += 1
                current = Outage(cam, utcnow())
                servers[cam].stop()
                outages.append(current)
                current_restore_at = now + args.outage
                next_cut += args.cut_every
                log(f"cut {cam}")
            if now >= next_sample:
                if proc.poll() is not None:
                    raise RuntimeError("gateway died:\n" + log_path.read_text()[-3000:])
                rss, fds, threads = proc_sample(proc.pid)
                up = sum(1 for s in servers.values() if s.running)
                samples.append(Sample(round(now - began, 1), round(rss, 1), fds, threads, up))
                loads.append(os.getloadavg()[0])
                log(f"t={now - began:5.0f}s rss={rss:.1f} MB fds={fds} threads={threads} cameras up={up}")
                next_sample += SAMPLE_EVERY_S
            time.sleep(0.2)
        cuts_ended = utcnow()
        time.sleep(SETTLE_S)
        rss, fds, threads = proc_sample(proc.pid)
        samples.append(Sample(round(time.monotonic() - began, 1), round(rss, 1), fds, threads, len(names)))
        gaps = gap_rows(db)
        problems, starts, ends = check_gaps(outages, [g for g in gaps if g[1] <= cuts_ended], began_wall)
        segs = segments_per_camera(db)
        leftover_children = children(proc.pid)
        stopped = stop(proc, 15)
        tracebacks = log_path.read_text().count("Traceback")
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        for server in servers.values():
            server.stop()
    base = next((s for s in samples if s.t >= args.warmup), samples[0])
    # fds and threads compared where every camera is connected (a cut camera holds no socket).
    full = [s for s in samples if s.cameras_up == len(names) and s.t >= args.warmup]
    last = samples[-1]
    return {
        "started": began_wall.strftime("%Y-%m-%d %H:%M"),
        "minutes": args.minutes, "cameras": len(names), "outages": len(outages),
        "outage_s": args.outage, "cut_every_s": args.cut_every, "segment_s": args.segment,
        "warmup_s": args.warmup,
        "rss_base": base.rss_mb, "rss_end": last.rss_mb, "rss_max": max(s.rss_mb for s in samples),
        "rss_growth": round(last.rss_mb - base.rss_mb, 1),
        "fds_base": full[0].fds if full else base.fds, "fds_end": last.fds,
        "fds_range": (min(s.fds for s in full), max(s.fds for s in full)) if full else None,
        "threads_base": full[0].threads if full else base.threads, "threads_end": last.threads,
        "threads_range": (min(s.threads for s in full), max(s.threads for s in full)) if full else None,
        "gap_problems": problems, "gap_rows": len(gaps),
        "gap_start_offsets": (round(min(starts), 2), round(max(starts), 2)) if starts else None,
        "gap_end_offsets": (round(min(ends), 2), round(max(ends), 2)) if ends else None,
        "segments": sum(segs.values()), "stopped": stopped, "tracebacks": tracebacks,
        "children": leftover_children,
        "load": (load_before, min(loads) if loads else 0.0, max(loads) if loads else 0.0, os.getloadavg()),
        "samples": [s.__dict__ for s in samples],
    }


def verdicts(r: dict[str, object]) -> dict[str, bool]:
    fds_range = r["fds_range"]
    threads_range = r["threads_range"]
    return {
        "rss": float(r["rss_growth"]) < RSS_GOAL_MB,  # type: ignore[arg-type]
        "fds": int(r["fds_end"]) <= int(r["fds_base"]),  # type: ignore[call-overload]
        "threads": int(r["threads_end"]) <= int(r["threads_base"]),  # type: ignore[call-overload]
        "gaps": not r["gap_problems"],
        "stopped": bool(r["stopped"]),
        "_ranges": fds_range is not None and threads_range is not None,
    }


def render(r: dict[str, object]) -> str:
    v = verdicts(r)
    ok = {True: "yes", False: "**no**"}
    load: tuple[tuple[float, ...], float, float, tuple[float, ...]] = r["load"]  # type: ignore[assignment]
    lb, lmin, lmax, lend = load
    so, eo = r["gap_start_offsets"], r["gap_end_offsets"]
    lines = [
        f"## Soak: {r['cameras']} cameras, one cut every {r['cut_every_s']} s (bench/soak.py), {r['started']} UTC",
        "",
        f"{r['minutes']} minutes, {r['outages']} outages of {r['outage_s']} s (camera server killed, started again on its "
        f"port), `pantau serve` on SQLite, segment_s {r['segment_s']}, 320x180 200 kbit/s `ball` streams. "
        f"Machine load average (1 min): {lb[0]:.1f} before, {lmin:.1f}-{lmax:.1f} during, {lend[0]:.1f} at the end "
        f"(2 cores, shared). Growth from the first sample after a {r['warmup_s']} s warm-up to the last.",
        "",
        "| measure | after warm-up | end | range | goal | met |",
        "|---|---|---|---|---|---|",
        f"| RSS MB | {r['rss_base']} | {r['rss_end']} | max {r['rss_max']} | growth < {RSS_GOAL_MB:.0f} MB "
        f"(was {r['rss_growth']:+}) | {ok[v['rss']]} |",
        f"| open fds (all cameras up) | {r['fds_base']} | {r['fds_end']} | {r['fds_range']} | no growth | {ok[v['fds']]} |",
        f"| threads (all cameras up) | {r['threads_base']} | {r['threads_end']} | {r['threads_range']} | no growth | "
        f"{ok[v['threads']]} |",
        f"| outages with exactly one covering gap row | {r['outages'] - len(r['gap_problems'])}/{r['outages']} | | "  # type: ignore[operator,arg-type]
        f"gap start - cut {so} s, gap end - restore {eo} s | every outage | {ok[v['gaps']]} |",
        "",
        f"- {r['gap_rows']} gap rows in the index in all, {r['segments']} sealed segments; gateway stopped within 15 s "
        f"of SIGTERM: {ok[v['stopped']]}; tracebacks in its log: {r['tracebacks']}; child processes: {r['children'] or 'none'}.",
    ]
    for p in r["gap_problems"]:  # type: ignore[attr-defined]
        lines.append(f"- gap problem: {p}")
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--cameras", type=int, default=12)
    parser.add_argument("--cut-every", type=float, default=30.0)
    parser.add_argument("--outage", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=60.0)
    parser.add_argument("--segment", type=float, default=10.0, help="recording.segment_s")
    parser.add_argument("--no-results", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args()
    result = run(args)
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.json").write_text(json.dumps(result, indent=1, default=str))
    text = render(result)
    print(text)
    if not args.no_results:
        with RESULTS.open("a") as f:
            f.write("\n" + text)
    v = verdicts(result)
    sys.exit(0 if all(v[k] for k in ("rss", "fds", "threads", "gaps", "stopped")) else 1)


if __name__ == "__main__":
    main()
