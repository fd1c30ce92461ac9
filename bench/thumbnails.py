"""Thumbnail benchmark (issue 16): keyframe thumbnails for one hour of one camera, CPU seconds,
side by side with FFmpeg's CLI making one thumbnail per segment the same way (keyframes only).

    .venv/bin/python bench/thumbnails.py [--counts 15,60,120] [--repeat 3] [--no-results]

1. Recording: an hour of 1080p25 ~3 Mbit/s H.264 (bench/ingest.py's clip, GOP 50, B-frames) in
   60 s segments, written, sealed, hashed and indexed by the gateway's own Recorder (bench/export.py
   makes it; kept under bench/out/ and reused).
2. Pantau: recorder.thumbnails.Thumbnails.make() for the hour with `count` instants (15 is what the
   recordings page asks for a 1200 px strip; 60 is one per segment; 120 the most one request may
   ask), against an empty cache (cold: read each segment touched once, hashing it as it is read,
   find its keyframes in its fragment headers, decode the picked keyframes, scale to 160 px, JPEG,
   write the cache), then again (warm: from the cache).
   CPU = getrusage(RUSAGE_SELF) user+sys around the call (this process and all its threads: the
   decode runs in a worker thread); the least of --repeat runs, each cold run with a new cache.
3. Reference: `ffmpeg -skip_frame nokey -i SEG -vf scale=160:-1 -frames:v 1 OUT.jpg` for each of the
   segments the Pantau run decoded from (one keyframe each, no hash check), CPU summed from os.wait4.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import export  # noqa: E402  (bench/export.py: ensure_recording)
import ingest  # noqa: E402  (bench/ingest.py: versions, log, RESULTS)

TARGET_CPU_S = 2.0


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def pantau(config: Path, counts: list[int], repeat: int) -> dict[int, dict[str, Any]]:
    from core.clock import SystemClock
    from core.configfile import load_settings
    from core.db import make_engine, make_sessionmaker
    from recorder.index import SegmentIndex
    from recorder.store import SegmentStore
    from recorder.thumbcache import ThumbnailCache
    from recorder.thumbnails import Thumbnails

    settings = load_settings(config)
    engine = make_engine(settings.database_url)
    index = SegmentIndex(make_sessionmaker(engine), SystemClock())
    store = SegmentStore(settings.storage.path)
    segments = await index.segments("cam1", None, None)
    start, end = segments[0].start, segments[-1].end
    by_id = {s.id: s for s in segments}
    out: dict[int, dict[str, Any]] = {}
    try:
        for count in counts:
            runs = []
            for _ in range(repeat):
                with tempfile.TemporaryDirectory() as tmp:
                    thumbs = Thumbnails(index, store, ThumbnailCache(Path(tmp), 256 * 1024 * 1024))
                    c0, w0 = _cpu(), time.monotonic()
                    cold = await thumbs.make("cam1", start, end, count)
                    c1, w1 = _cpu(), time.monotonic()
                    warm = await thumbs.make("cam1", start, end, count)
                    c2, w2 = _cpu(), time.monotonic()
                    assert warm.decoded == 0 and len(warm.thumbnails) == len(cold.thumbnails)
                    seg_ids = sorted({t.segment_id for t in cold.thumbnails})
                    runs.append({"cold_cpu": c1 - c0, "cold_wall": w1 - w0, "warm_cpu": c2 - c1, "warm_wall": w2 - w1,
                                 "thumbs": len(cold.thumbnails), "decoded": cold.decoded, "segments": len(seg_ids),
                                 "read_mb": sum(by_id[i].bytes for i in seg_ids) / 1e6,
                                 "paths": [str(store.absolute(by_id[i].path)) for i in seg_ids],
                                 "jpeg_kb": sum(len(t.jpeg) for t in cold.thumbnails) / max(1, len(cold.thumbnails)) / 1e3})
            best = min(runs, key=lambda r: r["cold_cpu"])
            best["all_cold"] = [r["cold_cpu"] for r in runs]
            best["all_warm"] = [r["warm_cpu"] for r in runs]
            out[count] = best
            ingest.log(f"  pantau count={count}: cold {best['cold_cpu']:.3f} CPU s ({best['thumbs']} thumbnails, "
                       f"{best['segments']} segments), warm {best['warm_cpu']:.4f} CPU s")
    finally:
        await engine.dispose()
    return out


def ffmpeg(paths: list[str], repeat: int) -> dict[str, Any]:
    """CPU of one keyframe-only thumbnail per segment with FFmpeg's CLI (the least of `repeat` runs)."""
    runs = []
    for _ in range(repeat):
        cpu = 0.0
        t0 = time.monotonic()
        with tempfile.TemporaryDirectory() as tmp:
            for i, path in enumerate(paths):
                proc = subprocess.Popen(["ffmpeg", "-nostdin", "-loglevel", "error", "-skip_frame", "nokey", "-i", path,
                                         "-vf", "scale=160:-1", "-frames:v", "1", "-y", f"{tmp}/{i}.jpg"])
                _, status, ru = os.wait4(proc.pid, 0)
                if status != 0:
                    raise RuntimeError(f"ffmpeg failed on {path}")
                cpu += ru.ru_utime + ru.ru_stime
            runs.append({"cpu": cpu, "wall": time.monotonic() - t0})
    best = min(runs, key=lambda r: r["cpu"])
    best["all"] = [r["cpu"] for r in runs]
    return best


def render(facts: dict[str, Any], rows: dict[int, dict[str, Any]], refs: dict[int, dict[str, Any]],
           repeat: int, took: float) -> str:
    now = dt.datetime.now(dt.UTC)
    code = subprocess.run(["git", "log", "-1", "--format=%h %ci"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    v = ingest.versions()
    segs = facts["segments"]["cam1"]
    lines = [
        f"## Thumbnails (bench/thumbnails.py), {now:%Y-%m-%d %H:%M} UTC",
        "",
        f"- Code: {code}",
        f"- Machine: {os.cpu_count()} CPUs, {platform.platform()}; load average {os.getloadavg()[0]:.1f} at the end",
        f"- {v['pyav']}; reference: {v['ffmpeg']}",
        f"- Recording: 1 h of clip_1080p25_3M_600s.mp4 (1080p25 H.264 Main ~3 Mbit/s, GOP 50, B-frames) by the gateway's"
        f" Recorder: {len(segs)} segments of 60 s, {sum(s['bytes'] for s in segs) / 1e6:.0f} MB; files in the page cache",
        f"- CPU = user+sys of this process and its threads (getrusage) around the call; the least of {repeat} runs;"
        " cold = empty cache, warm = the same request again. ffmpeg: os.wait4 of each process, summed.",
        "",
        "| count asked (1 h) | thumbnails | segments read (MB) | Pantau cold CPU s (wall s) | Pantau warm CPU s |"
        " ffmpeg CPU s, same segments | ratio cold / ffmpeg | target < 2 CPU s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for count, r in rows.items():
        ref = refs[count]
        lines.append(f"| {count} | {r['thumbs']} ({r['jpeg_kb']:.1f} kB each) | {r['segments']} ({r['read_mb']:.0f}) |"
                     f" {r['cold_cpu']:.3f} ({r['cold_wall']:.2f}) | {r['warm_cpu']:.4f} | {ref['cpu']:.3f} |"
                     f" {r['cold_cpu'] / ref['cpu']:.2f}x | {'yes' if r['cold_cpu'] < TARGET_CPU_S else 'NO'} |")
    lines += ["", "- Every run, cold / warm / ffmpeg CPU s: " + "; ".join(
        f"count {c}: {', '.join(f'{x:.2f}' for x in r['all_cold'])} / {', '.join(f'{x:.4f}' for x in r['all_warm'])}"
        f" / {', '.join(f'{x:.2f}' for x in refs[c]['all'])}" for c, r in rows.items()),
        f"- Bench wall time {took / 60:.1f} min.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default="15,60,120")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-results", action="store_true")
    args = parser.parse_args()
    t0 = time.monotonic()
    root, config, facts = export.ensure_recording(argparse.Namespace(minutes=60.0, segment=60.0, cameras=[1], fresh=False))
    counts = [int(c) for c in args.counts.split(",")]
    rows = asyncio.run(pantau(config, counts, args.repeat))
    refs = {}
    for count, r in rows.items():
        refs[count] = ffmpeg(r["paths"], args.repeat)
        ingest.log(f"  ffmpeg, {len(r['paths'])} segments: {refs[count]['cpu']:.3f} CPU s")
    section = render(facts, rows, refs, args.repeat, time.monotonic() - t0)
    print(section)
    if not args.no_results:
        with open(ingest.RESULTS, "a") as fh:
            fh.write("\n" + section)


if __name__ == "__main__":
    main()
