"""RTSP restream benchmark: N ffmpeg clients (`-c copy` to null) on one 1080p camera, through Pantau's
RTSP restream and straight from GStreamer's own RTSP server (the camera), side by side.

    .venv/bin/python bench/rtsprestream.py [--n 1,20] [--window S] [--warmup S] [--no-results]

The camera is tests/camera_server.py re-serving bench/ingest.py's pre-encoded 1080p25 ~3 Mbit/s
H.264 file from one shared media (GStreamer's RTSP server: demux, payload, one copy per client). For
each N, two sides run one after the other:

  * gstreamer: the N clients read the camera server directly. Server CPU = the camera server process.
  * pantau:    the real gateway (gateway.app.Gateway, recording off, restream.rtsp on) in a child
               process pulls the camera once (PyAV ingest, hub) and serves it through its RTSP
               restream (GStreamer's RTSP server fed by appsrc); the N clients read
               rtsp://nvr:PW@127.0.0.1:PORT/cam with Digest. Server CPU = the gateway process (it
               includes the ingest); the camera server's CPU for its one client is listed apart.

CPU is utime+stime from /proc/PID/stat over the window (psutil is not installed here; this is what
psutil reads). Per client = server CPU / N; marginal per client = (CPU at the largest N - CPU at the
smallest) / (difference in N). Client fps = the `frame=` difference of each ffmpeg's progress file
over the window; a client below 24 fps marks the row as missing the target. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import signal
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

import ingest  # noqa: E402  (camera media and server, /proc CPU helpers, progress parsing)

RESULTS = ROOT / "bench" / "RESULTS.md"
CAMERA = "cam"
USER, PASSWORD = "nvr", "bench-password-1"
TARGET_FPS = 24.0


# --------------------------------------------------------------------------- the gateway (child process)


def serve_pantau(args: argparse.Namespace) -> None:
    """The real gateway, one camera, recording off, RTSP restream on; prints READY <rtsp port>."""
    from core.config import CameraConfig, Settings
    from gateway.app import Gateway

    work = Path(args.dir)
    settings = Settings(
        data_dir=work / "data",
        server={"host": "127.0.0.1", "port": 0},
        database={"url": f"sqlite+aiosqlite:///{work / 'pantau.db'}"},
        storage={"path": work / "recordings"},
        logging={"level": "WARNING"},
        access={"visibility": {"admin": ["*"], "integrator": ["*"]}},
        restream={"rtsp": {"enabled": True, "host": "127.0.0.1", "port": args.rtsp_port}},
        cameras=[CameraConfig(id=CAMERA, source=args.url, record=False)],
    )
    gateway = Gateway(settings)

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        ready = asyncio.Event()
        running = asyncio.create_task(gateway.run(on_ready=lambda _g: ready.set()))
        await ready.wait()
        assert gateway.services is not None and gateway.rtsp is not None
        await gateway.services.users.add(USER, "integrator", PASSWORD)
        print(f"READY {gateway.rtsp.port}", flush=True)
        await running

    import logging

    logging.basicConfig(level=logging.WARNING, format="pantau %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(main())
    except (asyncio.CancelledError, KeyboardInterrupt):
        pass


# --------------------------------------------------------------------------- the clients


def clients_phase(url: str, n: int, warmup: float, window: float, servers: dict[str, int]) -> dict[str, Any]:
    """N ffmpeg clients on `url`; CPU of each process in `servers` (name -> pid) and of the clients."""
    tmp = Path(tempfile.mkdtemp(prefix="restream-progress-", dir=ingest.OUT))
    progress = [tmp / f"p{i}.txt" for i in range(n)]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(n):
            cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-nostats",
                   "-rtsp_transport", "tcp", "-i", url, "-c", "copy", "-f", "null", "-",
                   "-progress", str(progress[i]), "-stats_period", "0.5"]
            procs.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
            time.sleep(ingest.STAGGER_S)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(ingest._last_frame(p) > 0 for p in progress):
            time.sleep(0.5)
        started = sum(ingest._last_frame(p) > 0 for p in progress)
        time.sleep(warmup)
        f0 = [ingest._last_frame(p) for p in progress]
        c0 = [ingest.proc_cpu_s(p.pid) or 0.0 for p in procs]
        s0 = {name: ingest.proc_cpu_s(pid) or 0.0 for name, pid in servers.items()}
        sys0, t0 = ingest.system_cpu(), time.monotonic()
        time.sleep(window)
        f1 = [ingest._last_frame(p) for p in progress]
        c1 = [ingest.proc_cpu_s(p.pid) or 0.0 for p in procs]
        s1 = {name: ingest.proc_cpu_s(pid) or 0.0 for name, pid in servers.items()}
        sys1, t1 = ingest.system_cpu(), time.monotonic()
        alive = sum(p.poll() is None for p in procs)
    finally:
        ingest.stop_all(procs)
        for p in progress:
            p.unlink(missing_ok=True)
        tmp.rmdir()
    span = t1 - t0
    return {
        "n": n, "started": started, "alive": alive, "window_s": span,
        "fps": [(b - a) / span for a, b in zip(f0, f1, strict=True)],
        "client_cpu_s": [b - a for a, b in zip(c0, c1, strict=True)],
        "server_cpu_s": {name: s1[name] - s0[name] for name in servers},
        "busy_cores": ingest.busy_cores(sys0, sys1),
    }


def gstreamer_side(camera: ingest.Server, n: int, args: argparse.Namespace) -> dict[str, Any]:
    assert camera.proc is not None
    return clients_phase(camera.url(), n, args.warmup, args.window, {"server": camera.proc.pid})


def pantau_side(camera: ingest.Server, n: int, args: argparse.Namespace) -> dict[str, Any]:
    assert camera.proc is not None
    work = Path(tempfile.mkdtemp(prefix="restream-gateway-", dir=ingest.OUT))
    port = ingest.free_port()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", "--dir", str(work), "--url", camera.url(),
           "--rtsp-port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = ingest._read_until(proc, "READY", 60)
        rtsp_port = int(line.split()[1])
        time.sleep(3)  # the camera connects and its first GOP is cached
        url = f"rtsp://{USER}:{PASSWORD}@127.0.0.1:{rtsp_port}/{CAMERA}"
        return clients_phase(url, n, args.warmup, args.window, {"server": proc.pid, "camera": camera.proc.pid})
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------- results


def fps_text(res: dict[str, Any]) -> str:
    fps = res["fps"]
    return f"{statistics.median(fps):.1f} (min {min(fps):.1f})" if fps else "-"


def server_cores(res: dict[str, Any]) -> float:
    return float(res["server_cpu_s"]["server"]) / res["window_s"]


def meets(res: dict[str, Any]) -> bool:
    return res["started"] == res["n"] and res["alive"] == res["n"] and min(res["fps"]) >= TARGET_FPS


def render(rows: dict[tuple[str, int], dict[str, Any]], ns: list[int], args: argparse.Namespace,
           info: dict[str, str], wall_s: float) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"## RTSP restream (bench/rtsprestream.py), {now}", "",
           f"- Code: {info['commit']}", f"- Machine: {info['machine']}", f"- {info['gstreamer']}; {info['ffmpeg']}",
           f"- Camera: tests/camera_server.py, one shared `file:` mount of {ingest.MEDIA.name} (1080p25 H.264 Main "
           "~3 Mbit/s, GOP 50); clients: `ffmpeg -rtsp_transport tcp -i URL -c copy -f null -`, one process each",
           f"- Window {args.window:.0f} s after {args.warmup:.0f} s warm-up; CPU = utime+stime from /proc over the "
           "window; pantau's server CPU includes its ingest of the camera (the camera server's CPU for that one "
           "client is in the last column)", "",
           "| N | side | server cores | server CPU per client (cores) | client fps med (min) | client CPU each (cores) "
           "| >= 24 fps each | camera server cores (pantau side) |",
           "|---|---|---|---|---|---|---|---|"]
    for n in ns:
        for side in ("gstreamer", "pantau"):
            res = rows.get((side, n))
            if res is None:
                continue
            cores = server_cores(res)
            client = statistics.mean(res["client_cpu_s"]) / res["window_s"] if res["client_cpu_s"] else 0.0
            camera = res["server_cpu_s"].get("camera")
            camera_text = "-" if camera is None else f"{camera / res['window_s']:.3f}"
            out.append(f"| {n} | {side} | {cores:.3f} | {cores / n:.4f} | {fps_text(res)} | {client:.3f} | "
                       f"{'yes' if meets(res) else 'NO'} | {camera_text} |")
    lo, hi = min(ns), max(ns)
    ratios = []
    marginal: dict[str, float] = {}
    for side in ("gstreamer", "pantau"):
        a, b = rows.get((side, lo)), rows.get((side, hi))
        if a is not None and b is not None and hi > lo:
            marginal[side] = (server_cores(b) - server_cores(a)) / (hi - lo)
    if len(marginal) == 2:
        ratios.append(f"- Marginal server CPU per added client ({lo} -> {hi}): gstreamer {marginal['gstreamer']:.4f} "
                      f"cores, pantau {marginal['pantau']:.4f} cores: **{marginal['pantau'] / marginal['gstreamer']:.2f}x**"
                      if marginal["gstreamer"] > 0 else f"- Marginal per client: {marginal}")
    for n in ns:
        g, p = rows.get(("gstreamer", n)), rows.get(("pantau", n))
        if g is not None and p is not None and server_cores(g) > 0:
            ratios.append(f"- N={n}: server CPU pantau / gstreamer = {server_cores(p) / server_cores(g):.2f}x "
                          f"(per client {server_cores(p) / n:.4f} vs {server_cores(g) / n:.4f} cores)")
    out += ["", *ratios, f"- Bench wall time {wall_s / 60:.1f} min.", ""]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", default="1,20")
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--no-results", action="store_true")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--rtsp-port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_pantau(args)
        return
    started = time.monotonic()
    ns = [int(v) for v in args.n.split(",")]
    camera = ingest.Server(ingest.ensure_media())
    camera.start()
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    try:
        for n in ns:
            for side, run in (("gstreamer", gstreamer_side), ("pantau", pantau_side)):
                ingest.log(f"{side}: {n} client(s)")
                rows[(side, n)] = run(camera, n, args)
                res = rows[(side, n)]
                ingest.log(f"  server {server_cores(res):.3f} cores, fps {fps_text(res)}, busy {res['busy_cores']:.2f}")
    finally:
        camera.stop()
    text = render(rows, ns, args, ingest.versions(), time.monotonic() - started)
    print(text)
    if not args.no_results:
        with RESULTS.open("a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
