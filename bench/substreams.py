"""What a camera's sub-stream costs the gateway, and what it saves, beside the main stream alone.

    .venv/bin/python bench/substreams.py [--n 16] [--window 15] [--no-results]

One GStreamer test camera (tests/camera_server.py) serves N main streams (1280x720, 2000 kbit/s
CBR) and N sub-streams (320x180, 256 kbit/s CBR), each kind encoded once and re-sent by every mount
(`shared`), so the server costs the same whatever N. Then, each in its own worker process:

  * reference: N `streams.camera.Camera` with the main stream only (default HealthConfig: keyframe
    image checks every 5 s on the main stream) and one draining subscriber (a recorder);
  * sub: the same N cameras with `substream` too (the checks sample the sub-stream) and a second
    draining subscriber on the sub-stream's hub (a wall tile).

Each worker reports its own getrusage (user+sys, all threads) over the window: CPU seconds per
camera-minute, side by side. The sub worker also times the health check's work per sample on each
stream: decoding one keyframe to the checks' grey picture (KeyframeDecoder.decode_gray at
ANALYSIS_WIDTH), 40 times each. The bytes a 16-tile wall saves are measured in
tests/test_browser_substreams.py (Chromium, real WHEP). A dated section goes to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
MAIN = "ball+1280x720+2000kbps+shared"
SUB = "ball+320x180+256kbps+shared"
DECODES = 40


async def _worker(args: argparse.Namespace) -> dict[str, object]:
    sys.path.insert(0, str(ROOT))
    from core.clock import SystemClock
    from core.config import CameraConfig, HealthConfig, HubConfig
    from streams.camera import Camera
    from streams.hub import StreamHub
    from streams.imagecheck import ANALYSIS_WIDTH
    from streams.keyframe import KeyframeDecoder

    clock = SystemClock()
    cameras = [
        Camera(CameraConfig(id=f"cam{i}", source=f"{args.base}/m{i}",
                            substream=f"{args.base}/s{i}" if args.sub else None),
               HealthConfig(), HubConfig().subscriber_queue, clock)
        for i in range(args.n)
    ]

    async def drain(hub: StreamHub) -> None:
        async with hub.subscribe("bench-drain") as sub:
            async for _item in sub:
                pass

    tasks = [asyncio.create_task(drain(feed.hub)) for cam in cameras for feed in cam.feeds]
    for cam in cameras:
        tasks.append(asyncio.create_task(cam.run()))
        await asyncio.sleep(0.05)
    deadline = time.monotonic() + 60
    while not all(feed.up for cam in cameras for feed in cam.feeds):
        if time.monotonic() > deadline:
            raise SystemExit("not every stream came up within 60 s")
        await asyncio.sleep(0.2)
    await asyncio.sleep(args.warmup)
    a, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    await asyncio.sleep(args.window)
    b, t1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    cpu = (b.ru_utime + b.ru_stime) - (a.ru_utime + a.ru_stime)
    result: dict[str, object] = {
        "n": args.n, "sub": args.sub, "window_s": t1 - t0, "cpu_s": cpu,
        "per_camera_min": cpu / (args.n * (t1 - t0) / 60),
        "reconnects": sum(feed.stats.reconnects for cam in cameras for feed in cam.feeds),
    }
    if args.sub:
        for feed in cameras[0].feeds:
            key, video = feed.hub.latest_keyframe(), feed.video
            assert key is not None and video is not None
            decoder = KeyframeDecoder(video)
            start = time.process_time()
            for _ in range(DECODES):
                assert decoder.decode_gray(key, ANALYSIS_WIDTH) is not None
            result[f"decode_ms_{feed.name}"] = (time.process_time() - start) / DECODES * 1000
            result[f"keyframe_bytes_{feed.name}"] = len(key.data)
            result[f"size_{feed.name}"] = f"{video.width}x{video.height}"
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return result


def run_worker(base: str, n: int, sub: bool, window: float, warmup: float) -> dict[str, object]:
    cmd = [sys.executable, __file__, "--worker", "--base", base, "--n", str(n), "--window", str(window),
           "--warmup", str(warmup), *(["--sub"] if sub else [])]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=window + warmup + 120, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    return dict(json.loads(line[len("RESULT "):]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--window", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=2, help="alternating runs per side; the least CPU is shown")
    parser.add_argument("--no-results", action="store_true")
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--base")
    parser.add_argument("--sub", action="store_true")
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(asyncio.run(_worker(args))), flush=True)
        return
    sys.path.insert(0, str(ROOT))
    from tests.fixtures_camera import CameraServer

    mounts = {**{f"m{i}": MAIN for i in range(args.n)}, **{f"s{i}": SUB for i in range(args.n)}}
    server = CameraServer(mounts)
    server.start()
    started = time.monotonic()
    load0 = os.getloadavg()[0]
    try:
        runs: dict[bool, list[dict[str, object]]] = {False: [], True: []}
        for _ in range(args.runs):
            for sub in (False, True):
                runs[sub].append(run_worker(f"rtsp://127.0.0.1:{server.port}", args.n, sub, args.window,
                                            args.warmup))
    finally:
        server.stop()
    ref = min(runs[False], key=lambda r: float(r["cpu_s"]))  # type: ignore[arg-type]
    sub = min(runs[True], key=lambda r: float(r["cpu_s"]))  # type: ignore[arg-type]
    text = render(args, ref, sub, runs, load0, time.monotonic() - started)
    print(text)
    if not args.no_results:
        with RESULTS.open("a") as fh:
            fh.write("\n" + text)


def render(args: argparse.Namespace, ref: dict[str, object], sub: dict[str, object],
           runs: dict[bool, list[dict[str, object]]], load0: float, wall: float) -> str:
    commit = subprocess.run(["git", "log", "-1", "--format=%h %ci"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    r_ref, r_sub = float(ref["per_camera_min"]), float(sub["per_camera_min"])  # type: ignore[arg-type]
    d_main, d_sub = float(sub["decode_ms_main"]), float(sub["decode_ms_sub"])  # type: ignore[arg-type]
    every = ", ".join(f"{float(r['cpu_s']):.2f}" for r in runs[False]) + " / " + ", ".join(  # type: ignore[arg-type]
        f"{float(r['cpu_s']):.2f}" for r in runs[True])  # type: ignore[arg-type]
    return f"""## Sub-streams (bench/substreams.py), {now}

- Code: {commit}
- Machine: {os.cpu_count()} CPUs, {platform.platform()}; load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end
- {args.n} cameras from one test camera server: main {MAIN}, sub {SUB}; {args.window:g} s windows after {args.warmup:g} s warm-up; {args.runs} alternating runs per side, the least CPU shown (every run, ref / sub: {every} CPU s)

| what | main stream only (reference) | with the sub-stream | ratio |
|---|---|---|---|
| ingest CPU s per camera-minute (Camera, hub, health checks, drains) | {r_ref:.2f} | {r_sub:.2f} | {r_sub / r_ref:.2f}x |
| health check work per sample: keyframe to grey picture, ms CPU | {d_main:.2f} ({sub['size_main']}, {sub['keyframe_bytes_main']} B keyframe) | {d_sub:.2f} ({sub['size_sub']}, {sub['keyframe_bytes_sub']} B keyframe) | {d_sub / d_main:.2f}x |

- Reconnects during the windows: ref {ref['reconnects']}, sub {sub['reconnects']}. Bench wall time {wall / 60:.1f} min.
- The wall's bytes: tests/test_browser_substreams.py (16 tiles in Chromium, 4 s windows) measures sub-streams at 0.10-0.13 of the main streams' bytes.
"""


if __name__ == "__main__":
    main()
