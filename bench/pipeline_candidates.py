"""Recording designs side by side in one run, against `ffmpeg -c copy -f segment` (issue "Pipeline CPU").

    .venv/bin/python bench/pipeline_candidates.py [--n 16,64,128] [--window 30] [--warmup 5]
                                                  [--segment 10] [--sides ffseg,pantau,ffpipe,gst]
                                                  [--no-results]

Every side records N cameras of bench/camfarm.py (several tests/camera_server.py processes
re-serving the 1080p25 ~3 Mbit/s H.264 clip, at most 8 clients per mount and 32 per process) to
segment files of --segment seconds, each side with a fresh farm:

  ffseg   the reference: N `ffmpeg -rtsp_transport tcp -i URL -c copy -f segment` processes
  pantau  today's Pantau (Camera + hub + health + Recorder), bench/candidate_workers.py
  ffpipe  ffmpeg child per camera writing fragmented MP4 to a pipe; Python (one thread) splits at
          fragments, hashes exactly the bytes written, fsyncs and seals per segment, samples health
  gst     GStreamer pipeline per camera in-process (splitmuxsink + fragmented mp4mux to a pipe), the
          same Python reader

A side may carry '+'-joined bench-local variants after a colon (`ffpipe:nohealth`):
  nohealth  no keyframe health decode (what recording, hashing and sealing cost alone)
  healthNN  one keyframe decoded per camera every NN s instead of every 5 s
  tick1     the fragment reader wakes every 1 s instead of every 0.2 s
  live      (ffpipe) ffmpeg's tee muxer also writes MPEG-TS to a second pipe that Python drains in
            large reads: the standing price of a live output for viewers

CPU s per stream-minute = user+sys of the side's processes (worker and its children, from
/proc/PID/stat) over the window / (N x window minutes); ratio = side / ffseg of the same N.
RSS per camera = the processes' VmRSS summed / N; PSS counts shared pages once (ffmpeg children
share their libraries). fps = frames delivered per camera over the window (median and minimum).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import camfarm  # noqa: E402
import candidate_workers  # noqa: E402
import ingest  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
SIDES = "ffseg,pantau,ffpipe,ffpipe:nohealth,ffpipe:live,gst"
LABELS = {
    "ffseg": "ffmpeg -c copy -f segment (reference)",
    "pantau": "a. Pantau today",
    "ffpipe": "b. ffmpeg child -> pipe -> Python seals",
    "gst": "c. GStreamer in-process -> pipe -> Python seals",
}


def descendants(pid: int) -> list[int]:
    """pid and every process below it (from /proc/PID/task/TID/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


def memory_kb(pids: list[int]) -> tuple[int, int]:
    """(VmRSS, Pss) summed over pids, kB."""
    rss = pss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return rss, pss


def cpu_of(pids: list[int]) -> dict[int, float]:
    return {p: c for p in pids if (c := ingest.proc_cpu_s(p)) is not None}


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def measure(pids_at: object, n: int, window: float, farm: camfarm.Farm, wait_window: object) -> dict:
    """CPU of the side's processes, the farm's, the machine's, over the window; memory 2 s before its
    end (the worker starts stopping at the end: a later read would miss processes on their way out)."""
    pids = pids_at()  # type: ignore[operator]
    c0, s0, sys0, t0, load0 = cpu_of(pids), farm.cpu(), ingest.system_cpu(), time.monotonic(), loadavg()
    time.sleep(max(0.0, window - 2.0))
    mid = pids_at()  # type: ignore[operator]
    rss, pss = memory_kb(mid)
    threads = 0
    for pid in mid:
        try:
            threads += len(os.listdir(f"/proc/{pid}/task"))
        except FileNotFoundError:
            pass
    wait_window(t0 + window)  # type: ignore[operator]
    pids = pids_at()  # type: ignore[operator]
    c1, s1, sys1, t1 = cpu_of(pids), farm.cpu(), ingest.system_cpu(), time.monotonic()
    cpu = sum(c1[p] - c0.get(p, c1[p]) for p in c1)
    root = pids[0]
    return {"n": n, "window_s": t1 - t0, "cpu_s": cpu, "root_cpu_s": c1.get(root, 0.0) - c0.get(root, 0.0),
            "threads": threads, "server_cores": (s1 - s0) / (t1 - t0),
            "busy_cores": ingest.busy_cores(sys0, sys1), "load": f"{load0} -> {loadavg()}",
            "rss_mb": rss / 1024 / n, "pss_mb": pss / 1024 / n, "procs": len(c1)}


def worker_side(spec: str, n: int, args: argparse.Namespace, tmp: Path) -> dict:
    side, _, variant = spec.partition(":")
    with camfarm.Farm(ingest.MEDIA, n) as farm:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", side, "--urls", ",".join(farm.urls()),
               "--out", str(tmp / side), "--warmup", str(args.warmup), "--window", str(args.window),
               "--segment", str(args.segment), "--variant", variant]
        (tmp / side).mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            ingest._read_until(proc, "WINDOW_START", candidate_workers.CONNECT_S + n * 0.2 + args.warmup + 30)
            res = measure(lambda: descendants(proc.pid), n, args.window, farm,
                          lambda _deadline: ingest._read_until(proc, "WINDOW_END", 32))
            line = ingest._read_until(proc, "RESULT", 60)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                for pid in reversed(descendants(proc.pid)):
                    try:
                        os.kill(pid, 9)
                    except ProcessLookupError:
                        pass
                proc.wait()
    res.update(json.loads(line.split(" ", 1)[1]))
    return res


def ffseg_side(n: int, args: argparse.Namespace, tmp: Path) -> dict:
    procs: list[subprocess.Popen[bytes]] = []
    progress = [tmp / "ffseg" / f"p{i}.txt" for i in range(n)]
    with camfarm.Farm(ingest.MEDIA, n) as farm:
        try:
            for i, url in enumerate(farm.urls()):
                d = tmp / "ffseg" / f"cam{i}"
                d.mkdir(parents=True)
                cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-nostats", "-rtsp_transport",
                       "tcp", "-i", url, "-c", "copy", "-f", "segment", "-segment_time", str(args.segment),
                       "-segment_format", "mp4", "-reset_timestamps", "1", str(d / "s%05d.mp4"),
                       "-progress", str(progress[i]), "-stats_period", "0.5"]
                procs.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL))
                time.sleep(candidate_workers.STAGGER_S)
            opened = time.monotonic() - n * candidate_workers.STAGGER_S
            deadline = time.monotonic() + candidate_workers.CONNECT_S
            while time.monotonic() < deadline and not all(ingest._last_frame(p) > 0 for p in progress):
                time.sleep(0.5)
            online = sum(ingest._last_frame(p) > 0 for p in progress)
            connect_s = time.monotonic() - opened
            time.sleep(args.warmup)
            f0 = [ingest._last_frame(p) for p in progress]
            t0 = time.monotonic()
            res = measure(lambda: [p.pid for p in procs], n, args.window, farm,
                          lambda deadline: time.sleep(max(0.0, deadline - time.monotonic())))
            f1 = [ingest._last_frame(p) for p in progress]
            span = time.monotonic() - t0
        finally:
            stopping = time.monotonic()
            ingest.stop_all(procs)
            stop_s = time.monotonic() - stopping
    res.update({"online": online, "fps": [(b - a) / span for a, b in zip(f0, f1, strict=True)], "latencies": [],
                "sealed": None, "health": None, "connect_s": connect_s, "stop_s": stop_s})
    return res


def valid(r: dict) -> bool:
    return r["online"] == r["n"] and bool(r["fps"]) and min(r["fps"]) >= ingest.FPS * ingest.MIN_FPS_SHARE


def per_min(r: dict) -> float:
    return r["cpu_s"] / (r["n"] * r["window_s"] / 60)


def q(values: list[float], frac: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{1000 * ordered[min(len(ordered) - 1, int(frac * len(ordered)))]:.0f}"


def render(rows: list[dict], args: argparse.Namespace) -> str:
    info = ingest.versions()
    out = [f"## Pipeline candidates (bench/pipeline_candidates.py), {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC", "",
           f"- Code: {info['commit']}; machine: {info['machine']}", f"- {info['pyav']}; {info['ffmpeg']}; "
           f"{info['gstreamer']}",
           f"- Cameras: bench/camfarm.py ({camfarm.PER_MOUNT} clients per shared `file:` mount, {camfarm.PER_SERVER} "
           "per tests/camera_server.py process), clip 1080p25 H.264 ~3 Mbit/s GOP 50 with B-frames; every side "
           f"opens its cameras 0.1 s apart on a fresh farm. Segments of {args.segment:g} s; window {args.window:g} s "
           f"after {args.warmup:g} s warm-up.", "",
           "| N | side | CPU s/stream-min | ratio vs ffseg | fps med (min) | RSS / PSS per camera (MB) | "
           "seal p50 / p99 (ms) | sealed | health decodes | all online after (s) | server cores | machine busy cores | load avg (1/5/15) | valid |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    ref: dict[int, float] = {}
    for r in rows:
        if r["side"] == "ffseg":
            ref[r["n"]] = per_min(r)
        base = ref.get(r["n"])
        ratio = f"{per_min(r) / base:.2f}x" if base else "-"
        fps = f"{statistics.median(r['fps']):.1f} ({min(r['fps']):.1f})" if r["fps"] else "-"
        side, _, variant = r["side"].partition(":")
        label = LABELS[side] + (f" [{variant}]" if variant else "")
        out.append(f"| {r['n']} | {label} | {per_min(r):.3f} | {ratio} | {fps} | "
                   f"{r['rss_mb']:.1f} / {r['pss_mb']:.1f} | {q(r['latencies'], 0.5)} / {q(r['latencies'], 0.99)} | "
                   f"{'-' if r['sealed'] is None else r['sealed']} | {'-' if r['health'] is None else r['health']} | {r['connect_s']:.1f} | {r['stop_s']:.1f} | "
                   f"{r['server_cores']:.2f} | {r['busy_cores']:.2f} | {r['load']} | "
                   f"{'yes' if valid(r) else '**no**: online ' + str(r['online']) + '/' + str(r['n'])} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", default="16,64")
    ap.add_argument("--window", type=float, default=30.0)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--segment", type=float, default=10.0)
    ap.add_argument("--sides", default=SIDES)
    ap.add_argument("--no-results", action="store_true")
    ap.add_argument("--variant", default="", help=argparse.SUPPRESS)
    ap.add_argument("--worker", choices=["pantau", "ffpipe", "gst"], help=argparse.SUPPRESS)
    ap.add_argument("--side", help=argparse.SUPPRESS)
    ap.add_argument("--urls", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.side = args.worker
        candidate_workers.main(args)
        return
    ingest.ensure_media()
    rows = []
    for n in (int(v) for v in args.n.split(",")):
        for side in args.sides.split(","):
            tmp = Path(tempfile.mkdtemp(prefix="bench-cand-", dir=ingest.OUT))
            ingest.log(f"N={n}: {side} (load {loadavg()})")
            try:
                r = ffseg_side(n, args, tmp) if side == "ffseg" else worker_side(side, n, args, tmp)
            except RuntimeError as exc:
                ingest.log(f"  failed: {exc}")
                continue
            finally:
                for root, dirs, files in os.walk(tmp):
                    for name in dirs + files:
                        os.chmod(os.path.join(root, name), 0o700)
                shutil.rmtree(tmp, ignore_errors=True)
            r["side"] = side
            rows.append(r)
            ingest.log(f"  {per_min(r):.3f} CPU s/stream-min (worker process itself {r['root_cpu_s']:.1f} s of "
                       f"{r['cpu_s']:.1f} s, {r['threads']} threads), fps min {min(r['fps'] or [0]):.1f}, "
                       f"RSS/cam {r['rss_mb']:.1f} MB, busy {r['busy_cores']:.2f}, sealed {r['sealed']}")
            time.sleep(2)
    text = render(rows, args)
    print(text)
    if not args.no_results:
        with open(RESULTS, "a") as f:
            f.write("\n" + text + "\n")
        ingest.log(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
