"""Recording CPU benchmark: Pantau (Camera + hub + Recorder, sealed fMP4 segments) against
`ffmpeg -rtsp_transport tcp -i URL -c copy -f segment -segment_time S` on the same streams.

    .venv/bin/python bench/record.py [--quick] [--n 1,16,64] [--window S] [--warmup S]
                                     [--segment S] [--no-results]

Cameras from bench/camfarm.py (tests/camera_server.py processes re-serving a pre-encoded
1080p25 ~3 Mbit/s H.264 file, at most 8 clients per mount and 32 per process, a fresh farm per
phase) and bench/ingest.py's CPU helpers. Both sides write to a temporary directory on
the same disk; Pantau indexes into a SQLite file there. CPU seconds per stream-minute =
cpu_s / (N * window_min), from getrusage (Pantau, all threads) and /proc/PID/stat (ffmpeg).
Seal latency: from the cut decision to the fsynced, renamed, read-only file (Pantau only;
ffmpeg neither fsyncs nor hashes).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import camfarm  # noqa: E402  (bench/camfarm.py: enough camera-server processes for N)
import ingest  # noqa: E402  (bench/ingest.py: ensure_media, proc_cpu_s, system_cpu, ...)

RESULTS = ROOT / "bench" / "RESULTS.md"
TARGET = 1.2


def worker_main(args: argparse.Namespace) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING, format="worker %(levelname)s %(name)s: %(message)s")
    asyncio.run(_worker(args))


async def _worker(args: argparse.Namespace) -> None:
    from core.clock import SystemClock
    from core.config import CameraConfig, Settings
    from core.db import make_engine, make_sessionmaker
    from gateway.migrations import upgrade
    from recorder.reports import LogOnlySink
    from recorder.service import Recorder
    from streams.camera import Camera
    from streams.state import CameraState

    out = Path(args.out)
    db_url = f"sqlite+aiosqlite:///{out / 'index.db'}"
    await asyncio.to_thread(upgrade, db_url)
    settings = Settings(
        storage={"path": out / "rec"}, database={"url": db_url},
        recording={"segment_s": args.segment, "min_free_bytes": 0},
        cameras=[CameraConfig(id=f"cam{i}", source=url) for i, url in zip(range(args.n), itertools.cycle(args.url.split(",")))],
    )
    clock = SystemClock()
    engine = make_engine(db_url)
    cams = {c.id: Camera(c, settings.camera_health(c), settings.hub.subscriber_queue, clock)
            for c in settings.cameras}
    recorder = Recorder(settings, make_sessionmaker(engine), clock, cams, LogOnlySink())
    tasks = [asyncio.create_task(c.run()) for c in cams.values()] + [asyncio.create_task(recorder.run())]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while loop.time() < deadline and not all(c.status.state == CameraState.ONLINE for c in cams.values()):  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    online = sum(c.status.state == CameraState.ONLINE for c in cams.values())
    await asyncio.sleep(args.warmup)

    def snap() -> tuple[float, float, int]:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return time.monotonic(), ru.ru_utime + ru.ru_stime, sum(c.stats.packets_total for c in cams.values())

    a = snap()
    lat0 = len(recorder.state.latencies)
    print("WINDOW_START", flush=True)
    await asyncio.sleep(args.window)
    b = snap()
    print("WINDOW_END", flush=True)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await engine.dispose()
    latencies = list(recorder.state.latencies)
    span = b[0] - a[0]
    print("RESULT " + json.dumps({
        "n": args.n, "online_at_start": online, "window_s": span, "cpu_s": b[1] - a[1],
        "pkts_per_s": (b[2] - a[2]) / span, "latencies": latencies, "latencies_in_window": len(latencies) - lat0,
        "sealed": recorder.state.sealed_total, "full": recorder.state.full_problem,
    }), flush=True)


def pantau_phase(server: camfarm.Farm, n: int, args: argparse.Namespace, out: Path) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--n", str(n), "--url", ",".join(server.urls(n)),
           "--warmup", str(args.warmup), "--window", str(args.window), "--segment", str(args.segment),
           "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        ingest._read_until(proc, "WINDOW_START", 90 + args.warmup)
        sys0 = ingest.system_cpu()
        ingest._read_until(proc, "WINDOW_END", args.window + 30)
        sys1 = ingest.system_cpu()
        line = ingest._read_until(proc, "RESULT", 60)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    res = json.loads(line.split(" ", 1)[1])
    res["busy_cores"] = ingest.busy_cores(sys0, sys1)
    res["segments_on_disk"] = len(list((out / "rec").rglob("*.mp4")))
    return res


def ffmpeg_phase(server: camfarm.Farm, n: int, args: argparse.Namespace, out: Path) -> dict:
    procs = []
    try:
        for i in range(n):
            d = out / f"ff{i}"
            d.mkdir(parents=True)
            cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-rtsp_transport", "tcp",
                   "-i", server.urls(n)[i], "-c", "copy", "-f", "segment", "-segment_time", str(args.segment),
                   "-segment_format", "mp4", "-reset_timestamps", "1", str(d / "s%05d.mp4")]
            procs.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
        time.sleep(5 + args.warmup)
        c0 = [ingest.proc_cpu_s(p.pid) for p in procs]
        t0, sys0 = time.monotonic(), ingest.system_cpu()
        time.sleep(args.window)
        c1 = [ingest.proc_cpu_s(p.pid) for p in procs]
        t1, sys1 = time.monotonic(), ingest.system_cpu()
        alive = sum(p.poll() is None for p in procs)
    finally:
        ingest.stop_all(procs)
    return {"n": n, "alive": alive, "window_s": t1 - t0,
            "cpu_s": sum((b or 0) - (a or 0) for a, b in zip(c0, c1, strict=False) if a is not None),
            "busy_cores": ingest.busy_cores(sys0, sys1),
            "segments_on_disk": len(list(out.rglob("*.mp4")))}


def with_server(media: Path, n: int, phase: Any) -> dict:
    server = camfarm.Farm(media, n)
    server.start()
    try:
        return phase(server)
    finally:
        server.stop()


def valid(p: dict) -> bool:
    """Every camera online and at least 90 % of 25 fps per camera through the window."""
    return p["online_at_start"] == p["n"] and p["pkts_per_s"] >= 0.9 * 25 * p["n"]


def per_min(res: dict) -> float:
    return res["cpu_s"] / (res["n"] * res["window_s"] / 60)


def q(values: list[float], frac: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{1000 * ordered[min(len(ordered) - 1, int(frac * len(ordered)))]:.0f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--n", default=None)
    ap.add_argument("--window", type=float, default=None)
    ap.add_argument("--warmup", type=float, default=None)
    ap.add_argument("--segment", type=float, default=None)
    ap.add_argument("--no-results", action="store_true")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.n = int(args.n)
        worker_main(args)
        return
    ns = [int(v) for v in (args.n or ("1,16" if args.quick else "1,16,64")).split(",")]
    args.window = args.window or (20.0 if args.quick else 60.0)
    args.warmup = args.warmup if args.warmup is not None else (4.0 if args.quick else 8.0)
    args.segment = args.segment or (10.0 if args.quick else 60.0)
    media = ingest.ensure_media()
    rows = []
    for n in ns:
        with tempfile.TemporaryDirectory(prefix="bench-record-", dir=ROOT / "bench" / "out") as tmp:
            # A fresh camera server per phase: a shared file mount left by the previous
            # phase's clients can refuse the next burst of opens.
            ingest.log(f"N={n}: Pantau recorder")
            p = with_server(media, n, lambda srv, n=n, tmp=tmp: pantau_phase(srv, n, args, Path(tmp) / "pantau"))
            ingest.log(f"  {per_min(p):.3f} CPU s/stream-min, sealed {p['sealed']}, busy {p['busy_cores']:.2f}, "
                       f"{p['pkts_per_s']:.0f} pkt/s")
            ingest.log(f"N={n}: ffmpeg -f segment")
            f = with_server(media, n, lambda srv, n=n, tmp=tmp: ffmpeg_phase(srv, n, args, Path(tmp) / "ffmpeg"))
            ingest.log(f"  {per_min(f):.3f} CPU s/stream-min; ratio {per_min(p) / per_min(f):.2f}x")
        rows.append((p, f))
        if not valid(p):
            break
    info = ingest.versions()
    text = render(rows, args, info)
    print(text)
    if not args.no_results:
        old = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
        RESULTS.write_text(old.rstrip("\n") + "\n\n" + text + "\n")
        ingest.log(f"appended to {RESULTS}")


def render(rows: list[tuple[dict, dict]], args: argparse.Namespace, info: dict) -> str:
    out = [f"## Recording: Pantau recorder vs ffmpeg -f segment, {dt.datetime.now():%Y-%m-%d %H:%M}"
           f"{' (quick)' if args.quick else ''}", "",
           f"- Machine: {info['machine']}", f"- {info['pyav']}; ffmpeg CLI: {info['ffmpeg']}",
           f"- Media: {ingest.MEDIA.name} (1080p25 H.264 ~3 Mbit/s, GOP 2 s) from bench/camfarm.py",
           f"- Segments of {args.segment:g} s on both sides; window {args.window:g} s after {args.warmup:g} s "
           "warm-up. Pantau: Camera + hub + health sampling + Recorder (fMP4, SHA-256 while writing, fsync, "
           "rename, chmod, SQLite index). ffmpeg: `-c copy -f segment -segment_format mp4` (no fsync, no hash).",
           "", "| N | Pantau CPU s/stream-min | ffmpeg CPU s/stream-min | ratio (target <= 1.2x) | "
           "seal latency p50 / p99 | segments sealed (P) | machine busy cores (P / F) | valid |",
           "|---|---|---|---|---|---|---|---|"]
    for p, f in rows:
        ratio = per_min(p) / per_min(f) if per_min(f) else float("nan")
        out.append(f"| {p['n']} | {per_min(p):.3f} | {per_min(f):.3f} | {ratio:.2f}x | "
                   f"{q(p['latencies'], 0.5)} / {q(p['latencies'], 0.99)} | {p['sealed']} | "
                   f"{p['busy_cores']:.2f} / {f['busy_cores']:.2f} | "
                   f"{'yes' if valid(p) else '**no: streams starved or offline**'} |")
    notes = [f"- N={p['n']}: Pantau packets/s {p['pkts_per_s']:.0f}, online {p['online_at_start']}/{p['n']}, "
             f"full={p['full']}; ffmpeg alive {f['alive']}/{f['n']}" for p, f in rows]
    if rows:
        lat = [x for p, _ in rows for x in p["latencies"]]
        notes.append(f"- all seal latencies: n={len(lat)}, median {statistics.median(lat) * 1000:.0f} ms"
                     if lat else "- no segment sealed")
    return "\n".join(out + [""] + notes)


if __name__ == "__main__":
    main()
