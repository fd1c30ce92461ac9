"""Calibration for bench/ingest.py: the cost of PyAV demuxing alone, without Pantau around it.

    .venv/bin/python bench/bare_demux.py [--n 1,16] [--window 20] [--timeouts pyav,native,none]

Each phase is a fresh process with N threads. Every thread opens the shared test-server
stream with the options RtspSource uses, then loops `bytes(packet)` over `container.demux()`.
The phase reports its getrusage CPU per stream-minute. Timeout variants:

  pyav    timeout=(10, 5): PyAV's interrupt callback, which takes the GIL on every call (Pantau today)
  native  timeout=(10, None) + RTSP option timeout=5000000: socket timeout inside libavformat
  none    no timeout at all (unsafe for cameras; floor for comparison)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest  # noqa: E402  (media, server and /proc helpers)


def child(url: str, n: int, warmup: float, window: float, variant: str) -> None:
    import av

    counts = [0] * n
    stop = threading.Event()

    def run(i: int) -> None:
        options = {"rtsp_transport": "tcp", "protocol_whitelist": "tcp,udp,rtp,tls,srtp", "format_whitelist": "rtsp"}
        kwargs: dict[str, object] = {}
        if variant == "pyav":
            kwargs["timeout"] = (10.0, 5.0)
        elif variant == "native":
            kwargs["timeout"] = (10.0, None)
            options["timeout"] = "5000000"
        with av.open(url, mode="r", format="rtsp", options=options, **kwargs) as c:  # type: ignore[arg-type]
            for packet in c.demux(*c.streams):
                if packet.size:
                    bytes(packet)
                    counts[i] += 1
                if stop.is_set():
                    break

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
        time.sleep(ingest.STAGGER_S)
    time.sleep(warmup)
    r0, c0, t0 = resource.getrusage(resource.RUSAGE_SELF), list(counts), time.monotonic()
    time.sleep(window)
    r1, c1, t1 = resource.getrusage(resource.RUSAGE_SELF), list(counts), time.monotonic()
    stop.set()
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    span = t1 - t0
    fps = [(b - a) / span for a, b in zip(c0, c1, strict=True)]
    print(json.dumps({"variant": variant, "n": n, "cpu_s": cpu, "window_s": span, "fps_min": min(fps),
                      "per_stream_min": cpu / (n * span / 60)}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", default="1,16")
    ap.add_argument("--window", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=4.0)
    ap.add_argument("--timeouts", default="pyav,native,none")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)  # url n variant
    args = ap.parse_args()
    if args.child:
        url, n, variant = args.child
        child(url, int(n), args.warmup, args.window, variant)
        return
    server = ingest.Server(ingest.ensure_media())
    server.start()
    try:
        for n in (int(v) for v in args.n.split(",")):
            for variant in args.timeouts.split(","):
                out = subprocess.run([sys.executable, __file__, "--window", str(args.window), "--warmup",
                                      str(args.warmup), "--child", server.url(), str(n), variant],
                                     capture_output=True, text=True, timeout=args.window + args.warmup + 60)
                line = (out.stdout.strip().splitlines() or ["{}"])[-1]
                res = json.loads(line) if line.startswith("{") else {"error": out.stderr[-500:]}
                print(json.dumps(res), flush=True)
                time.sleep(2)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
