"""Bench-local experiments on Pantau's ingest path, measured like bench/ingest.py, against ffmpeg.

    .venv/bin/python bench/experiments.py [--n 16,64] [--window 20] [--variants ...]

Each variant monkeypatches the worker process only (see the patch_* functions in ingest.py);
streams/ is not changed. Variants are '+'-joined names:

  base            Pantau as committed
  native-timeout  read timeout by libavformat's socket timeout instead of PyAV's GIL-taking callback
  health-poll     health monitor reads hub.latest_keyframe() once per interval instead of subscribing
  tick            the loop drains every source thread every 20 ms; threads never wake the loop
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import camfarm  # noqa: E402
import ingest  # noqa: E402

DEFAULT = "base,native-timeout,native-timeout+health-poll,native-timeout+health-poll+tick"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", default="16,64")
    ap.add_argument("--window", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--variants", default=DEFAULT)
    args = ap.parse_args()
    server = camfarm.Farm(ingest.ensure_media(), max(int(v) for v in args.n.split(",")))
    server.start()
    lines = ["| N | side | CPU s/stream-min | vs ffmpeg | fps med (min) | health decodes | machine busy cores |",
             "|---|---|---|---|---|---|---|"]
    try:
        for n in (int(v) for v in args.n.split(",")):
            ingest.log(f"N={n}: ffmpeg")
            f = ingest.ffmpeg_phase(server, n, args.warmup, args.window)
            fs = ingest.per_stream_min(f)
            lines.append(f"| {n} | ffmpeg -c copy | {fs:.3f} | 1.00x | {ingest.fmt_fps(f)} | - | "
                         f"{f['busy_cores']:.2f} |")
            time.sleep(2)
            for variant in args.variants.split(","):
                ingest.log(f"N={n}: Pantau {variant}")
                p = ingest.pantau_phase(server, n, args.warmup, args.window, "" if variant == "base" else variant)
                ps = ingest.per_stream_min(p)
                ingest.log(f"  {ps:.3f} CPU s/stream-min ({ps / fs:.2f}x), fps {ingest.fmt_fps(p)}")
                lines.append(f"| {n} | Pantau {variant} | {ps:.3f} | {ps / fs:.2f}x | {ingest.fmt_fps(p)} | "
                             f"{p['health_decodes']} | {p['busy_cores']:.2f} |")
                time.sleep(2)
    finally:
        server.stop()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
