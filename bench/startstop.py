"""Start and stop at scale: a whole `pantau serve` with N recording cameras against N
`ffmpeg -c copy -f segment` processes started together on the same streams.

    .venv/bin/python bench/startstop.py [--n 64,128] [--hold 20] [--segment 10] [--no-results]

For each N, on a fresh bench/camfarm.py farm (the bench clip, 1080p25 ~3 Mbit/s):
- Pantau: the gateway process with N cameras (recording on, `hub.opens_per_s` at its default), from
  the process start: when /readyz answers, when the first and the last camera went online (from its
  log), the most cameras that went online within any one second (a thundering herd shows as all N
  in one second; opens are paced at `hub.opens_per_s`), then after `--hold` s a SIGTERM: how long the
  process took to exit, and whether every camera has sealed segments and no file is left unsealed.
- ffmpeg: N processes started at once; when the last wrote its first segment file; how long they
  took to exit after SIGTERM.
Issue 19's bar: all 128 cameras connected within 30 s of start, and a clean stop within 10 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import camfarm  # noqa: E402  (bench/camfarm.py: enough camera-server processes for N)
import ingest  # noqa: E402  (bench/ingest.py: ensure_media, free_port, stop_all, log, versions)

RESULTS = ROOT / "bench" / "RESULTS.md"
ONLINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO streams\.camera: camera (\S+): \w+ -> online")
CONNECT_BY_S = 30.0
STOP_BY_S = 10.0


def _stamp(text: str) -> float:
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def _most_in_one_second(times: list[float]) -> int:
    times = sorted(times)
    most, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def pantau_phase(farm: camfarm.Farm, n: int, hold: float, segment: float) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="startstop-"))
    port = ingest.free_port()
    config = {
        "data_dir": str(home / "data"),
        "server": {"host": "127.0.0.1", "port": port},
        "database": {"url": f"sqlite+aiosqlite:///{home / 'pantau.db'}"},
        "storage": {"path": str(home / "rec")},
        "recording": {"segment_s": segment, "min_free_bytes": 0},
        "cameras": [{"id": f"c{i:03d}", "source": url} for i, url in enumerate(farm.urls(n))],
    }
    (home / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PANTAU_")}, "PYTHONPATH": str(ROOT)}
    log_path = home / "gateway.log"
    with log_path.open("w") as log_file:
        started = time.time()
        proc = subprocess.Popen([sys.executable, "-m", "gateway", "--config", str(home / "config.yaml"), "serve"],
                                cwd=home, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    ready_s = None
    online: dict[str, float] = {}
    deadline = started + 120
    while len(online) < n and time.time() < deadline and proc.poll() is None:
        if ready_s is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
                    ready_s = time.time() - started
            except (OSError, urllib.error.HTTPError):
                pass
        for line in log_path.read_text(errors="replace").splitlines():
            m = ONLINE.match(line)
            if m and m.group(2) not in online:
                online[m.group(2)] = _stamp(m.group(1))
        time.sleep(0.2)
    if proc.poll() is not None:
        raise RuntimeError(f"the gateway exited ({proc.returncode}):\n" + log_path.read_text()[-3000:])
    time.sleep(hold)
    stop_at = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    stop_s = time.monotonic() - stop_at
    with sqlite3.connect(home / "pantau.db") as db:
        rows = db.execute("SELECT camera_id, path FROM recording_segments").fetchall()
    sealed = {path for _, path in rows}
    files = [p for p in (home / "rec").rglob("*") if p.is_file()]
    unsealed = [p for p in files if not any(str(p).endswith(s) for s in sealed)]
    times = sorted(online.values())
    return {
        "side": "Pantau (pantau serve)", "n": n, "ready_s": ready_s,
        "first_s": times[0] - started if times else None, "all_s": times[-1] - started if len(times) == n else None,
        "online": len(times), "most_per_s": _most_in_one_second(times), "stop_s": stop_s, "exit": code,
        "cameras_sealed": len({c for c, _ in rows}), "segments": len(rows), "unsealed_files": len(unsealed),
    }


def ffmpeg_phase(farm: camfarm.Farm, n: int, hold: float, segment: float) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix="startstop-ff-"))
    started = time.time()
    procs = []
    for i, url in enumerate(farm.urls(n)):
        (out / f"c{i:03d}").mkdir()
        procs.append(subprocess.Popen(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", url, "-c", "copy",
             "-f", "segment", "-segment_time", str(segment), "-reset_timestamps", "1",
             str(out / f"c{i:03d}" / "%05d.mp4")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    first: dict[int, float] = {}
    deadline = started + 120
    while len(first) < n and time.time() < deadline:
        for i in range(n):
            if i not in first and any(p.stat().st_size > 0 for p in (out / f"c{i:03d}").iterdir()):
                first[i] = time.time()
        time.sleep(0.2)
    time.sleep(hold)
    stop_at = time.monotonic()
    ingest.stop_all(procs)
    stop_s = time.monotonic() - stop_at
    times = sorted(first.values())
    return {
        "side": "ffmpeg -c copy -f segment x N (reference)", "n": n, "ready_s": None,
        "first_s": times[0] - started if times else None, "all_s": times[-1] - started if len(times) == n else None,
        "online": len(times), "most_per_s": _most_in_one_second(times), "stop_s": stop_s,
        "exit": max(p.returncode for p in procs), "cameras_sealed": None, "segments": None, "unsealed_files": None,
    }


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def render(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    v = ingest.versions()
    head = (f"## Start and stop at scale (bench/startstop.py), {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n\n"
            f"- Code: {v['commit']}; machine: {v['machine']}\n"
            f"- Cameras: bench/camfarm.py, the bench clip (1080p25 ~3 Mbit/s); segments of {args.segment:g} s; "
            f"held {args.hold:g} s after the last camera was online, then SIGTERM. Times from the process start "
            "(Pantau: the gateway's log; ffmpeg: its first segment file).\n\n"
            "| N | side | /readyz (s) | first online (s) | all online (s) | online | most online in 1 s | "
            "stop (s) | exit | cameras with sealed segments | segments | files left unsealed |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = [f"| {r['n']} | {r['side']} | {_fmt(r['ready_s'])} | {_fmt(r['first_s'])} | {_fmt(r['all_s'])} | "
             f"{r['online']} | {r['most_per_s']} | {_fmt(r['stop_s'])} | {r['exit']} | {_fmt(r['cameras_sealed'])} | "
             f"{_fmt(r['segments'])} | {_fmt(r['unsealed_files'])} |" for r in rows]
    verdicts = []
    for r in rows:
        if r["side"].startswith("Pantau"):
            ok_connect = r["all_s"] is not None and r["all_s"] <= CONNECT_BY_S
            ok_stop = r["stop_s"] <= STOP_BY_S and r["exit"] == 0 and r["unsealed_files"] == 0
            verdicts.append(f"- N = {r['n']}: all online within {CONNECT_BY_S:g} s: {'yes' if ok_connect else 'NO'}; "
                            f"clean stop within {STOP_BY_S:g} s: {'yes' if ok_stop else 'NO'}")
    return head + "\n".join(lines) + "\n\n" + "\n".join(verdicts) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", default="64,128")
    ap.add_argument("--hold", type=float, default=20.0)
    ap.add_argument("--segment", type=float, default=10.0)
    ap.add_argument("--no-results", action="store_true")
    args = ap.parse_args()
    media = ingest.ensure_media()
    rows = []
    for n in [int(x) for x in args.n.split(",")]:
        for phase in (ffmpeg_phase, pantau_phase):
            with camfarm.Farm(media, n) as farm:
                ingest.log(f"N = {n}: {phase.__name__}")
                row = phase(farm, n, args.hold, args.segment)
                ingest.log(str(row))
                rows.append(row)
    text = render(rows, args)
    print(text)
    if not args.no_results:
        with RESULTS.open("a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
