"""Ingest CPU benchmark: Pantau (Camera + hub + health sampling) against `ffmpeg -c copy -f null`.

    .venv/bin/python bench/ingest.py [--quick] [--n 1,16,64] [--window S] [--warmup S]
                                     [--profile N] [--no-results]

Pulls N RTSP streams from GStreamer test cameras (bench/camfarm.py: tests/camera_server.py
processes with shared `file:` mounts re-serving a pre-encoded 1080p25 ~3 Mbit/s H.264 file, at
most 8 clients per mount and 32 per process) and measures,
in the same run and against the same server:

  * Pantau: one worker process (this file with --worker) running N `streams.camera.Camera`
    objects with the default HealthConfig (keyframe sampling on) and one draining hub
    subscriber per camera; its own getrusage (all threads, user+sys) over the window.
  * ffmpeg: N `ffmpeg -rtsp_transport tcp -i URL -c copy -f null -` processes; utime+stime
    from /proc/PID/stat over a window of the same length.

CPU seconds per stream-minute = cpu_s / (N * window_min). See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import json
import os
import platform
import re
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import camfarm

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"
RESULTS = BENCH / "RESULTS.md"
SERVER_SCRIPT = ROOT / "tests" / "camera_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"
MEDIA = OUT / "clip_1080p25_3M_600s.mp4"
MEDIA_SECONDS = 600
FPS = 25
# A stream that delivered less than this share of 25 fps in the window starved: invalid run.
MIN_FPS_SHARE = 0.9
# Seconds between starting two clients (both sides), see _worker.
STAGGER_S = 0.1
CLK_TCK = os.sysconf("SC_CLK_TCK")
PANTAU_TARGET = 1.2  # Pantau CPU / ffmpeg CPU per stream


# --------------------------------------------------------------------------- helpers


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def stop_all(procs: list[subprocess.Popen[str]] | list[subprocess.Popen[bytes]]) -> None:
    """Terminate every process, then wait; kill what does not end within 10 s."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def proc_cpu_s(pid: int) -> float | None:
    """utime+stime of a process (all its threads), seconds; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # fields[0] is field 3 (state): utime is field 14, stime 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def system_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        parts = [int(v) for v in f.readline().split()[1:]]
    idle = parts[3] + parts[4]  # idle + iowait
    total = sum(parts[:8])  # guest time is already inside user
    return total - idle, total


def busy_cores(a: tuple[float, float], b: tuple[float, float]) -> float:
    busy, total = b[0] - a[0], b[1] - a[1]
    return (os.cpu_count() or 1) * busy / total if total else 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_media() -> Path:
    """Pre-encode once (cached): 60 s of 1080p25 3 Mbit/s main-profile H.264, GOP 50, looped to 600 s."""
    if MEDIA.exists():
        return MEDIA
    OUT.mkdir(parents=True, exist_ok=True)
    base = OUT / "base_1080p25_3M_60s.mp4"
    if not base.exists():
        log("encoding 60 s of 1080p25 test video (once; ~15 s on 2 cores)")
        subprocess.run(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
             "-i", "testsrc2=size=1920x1080:rate=25", "-t", "60", "-c:v", "libx264",
             "-preset", "veryfast", "-profile:v", "main", "-pix_fmt", "yuv420p",
             "-b:v", "3M", "-maxrate", "3M", "-bufsize", "6M",
             "-g", "50", "-keyint_min", "50", "-sc_threshold", "0", str(base)],
            check=True,
        )
    # Stream copy of 10 loops: continuous timestamps, a file longer than any bench phase.
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-stream_loop", str(MEDIA_SECONDS // 60 - 1),
         "-i", str(base), "-c", "copy", "-movflags", "+faststart", str(MEDIA)],
        check=True,
    )
    return MEDIA


class Server:
    """tests/camera_server.py with one shared `file:` mount."""

    def __init__(self, media: Path) -> None:
        self.port = free_port()
        self.media = media
        self.proc: subprocess.Popen[str] | None = None
        self.stderr = tempfile.TemporaryFile("w+")

    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/clip"

    def urls(self, n: int) -> list[str]:
        """The URL of each of n cameras: all on the one mount (bench/camfarm.py spreads them)."""
        return [self.url()] * n

    def start(self) -> None:
        cmd = [SYSTEM_PYTHON, str(SERVER_SCRIPT), "--port", str(self.port), "--mount", f"clip=file:{self.media}"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr, text=True,
                                     start_new_session=True)
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout=15):
                raise RuntimeError("camera server did not start")
        line = self.proc.stdout.readline().strip()
        if not line.startswith("ready"):
            self.stderr.seek(0)
            raise RuntimeError(f"camera server failed: {line!r} {self.stderr.read()[-2000:]}")

    def cpu(self) -> float:
        assert self.proc is not None
        return proc_cpu_s(self.proc.pid) or 0.0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


# --------------------------------------------------------------------------- Pantau worker


def worker_main(args: argparse.Namespace) -> None:
    """Runs in a child process: N Cameras + drain subscribers; prints WINDOW_START / RESULT lines."""
    sys.path.insert(0, str(ROOT))
    import logging

    logging.basicConfig(level=logging.WARNING, format="worker %(levelname)s %(name)s: %(message)s")
    asyncio.run(_worker(args))


async def _worker(args: argparse.Namespace) -> None:
    from core.clock import SystemClock
    from core.config import CameraConfig, HealthConfig, HubConfig
    from streams import keyframe
    from streams.camera import Camera
    from streams.packet import MediaPacket

    # Count health decodes (proves sampling is on) without changing what it does.
    decodes = [0]
    original = keyframe.KeyframeDecoder.decode_gray

    def counted(self, packet, width=None):  # type: ignore[no-untyped-def]
        decodes[0] += 1
        return original(self, packet, width)

    keyframe.KeyframeDecoder.decode_gray = counted  # type: ignore[method-assign]
    variants = set(filter(None, args.variant.split("+")))
    if "native-timeout" in variants:
        patch_native_read_timeout()
    if "health-poll" in variants:
        patch_health_poll()
    if "tick" in variants:
        patch_tick_handoff()

    n: int = args.n
    clock = SystemClock()
    health = HealthConfig()  # default sample_interval_s (5 s)
    queue = HubConfig().subscriber_queue
    urls = args.url.split(",")  # one per camera (bench/camfarm.py), or one for all
    cameras = [Camera(CameraConfig(id=f"cam{i}", source=urls[i % len(urls)]), health, queue, clock)
               for i in range(n)]
    video_packets = [0] * n
    all_items = [0] * n

    async def drain(i: int, cam: Camera) -> None:
        # Stands for a recorder or viewer: takes everything, does nothing with it.
        async with cam.hub.subscribe("bench-drain") as sub:
            async for item in sub:
                all_items[i] += 1
                if isinstance(item, MediaPacket) and cam.hub.is_video(item.stream):
                    video_packets[i] += 1

    tasks = [asyncio.create_task(drain(i, cam)) for i, cam in enumerate(cameras)]
    for cam in cameras:
        # Staggered starts: every PLAY on the shared file mount seeks its pipeline back to 0,
        # and a burst of simultaneous PLAYs has left the test server stuck (see README).
        tasks.append(asyncio.create_task(cam.run()))
        await asyncio.sleep(STAGGER_S)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while loop.time() < deadline:
        if all(c.status.state.up for c in cameras):
            break
        await asyncio.sleep(0.2)
    online = sum(c.status.state.up for c in cameras)
    await asyncio.sleep(args.warmup)

    def snap() -> dict[str, object]:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "t": time.monotonic(),
            "cpu": ru.ru_utime + ru.ru_stime,
            "user": ru.ru_utime,
            "sys": ru.ru_stime,
            "pkts": list(video_packets),
            "reconnects": sum(c.stats.reconnects for c in cameras),
            "dropped": sum(c.stats.snapshot(time.monotonic()).dropped_packets for c in cameras),
            "decodes": decodes[0],
        }

    a = snap()
    print("WINDOW_START", flush=True)
    await asyncio.sleep(args.window)
    b = snap()
    print("WINDOW_END", flush=True)
    span = b["t"] - a["t"]  # type: ignore[operator]
    fps = [(y - x) / span for x, y in zip(a["pkts"], b["pkts"], strict=True)]  # type: ignore[call-overload]
    result = {
        "n": n,
        "online_at_start": online,
        "window_s": span,
        "cpu_s": b["cpu"] - a["cpu"],  # type: ignore[operator]
        "user_s": b["user"] - a["user"],  # type: ignore[operator]
        "sys_s": b["sys"] - a["sys"],  # type: ignore[operator]
        "fps": fps,
        "reconnects": b["reconnects"] - a["reconnects"],  # type: ignore[operator]
        "dropped": b["dropped"] - a["dropped"],  # type: ignore[operator]
        "health_decodes": b["decodes"] - a["decodes"],  # type: ignore[operator]
        "states": collections.Counter(str(c.status.state) for c in cameras),
    }
    print("RESULT " + json.dumps(result), flush=True)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def patch_native_read_timeout() -> None:
    """Bench-local experiment, not a change to streams/: read timeout by FFmpeg instead of PyAV.

    PyAV's `timeout=` installs an interrupt callback that takes the GIL on every call, and
    libavformat calls it several times per RTP packet (~300 packets/s per 3 Mbit/s stream).
    Here `RtspSource.open` keeps PyAV's open timeout (the callback returns before taking the
    GIL once the read timeout is None) and moves the read timeout into the RTSP demuxer's
    own socket timeout (`timeout`, microseconds), which needs no Python at all.
    """
    import av

    from streams import rtsp

    real_open = av.open

    def open_(*args, **kwargs):  # type: ignore[no-untyped-def]
        timeout = kwargs.get("timeout")
        # streams/rtsp.py now does this itself (read timeout None): then there is nothing to patch.
        if isinstance(timeout, tuple) and timeout[1] is not None:
            open_s, read_s = timeout
            kwargs["timeout"] = (open_s, None)
            options = dict(kwargs.get("options") or {})
            options["timeout"] = str(int(read_s * 1_000_000))
            kwargs["options"] = options
        return real_open(*args, **kwargs)

    rtsp.av = type("AvShim", (), {"open": staticmethod(open_), "error": av.error,  # type: ignore[attr-defined]
                                  "Packet": av.Packet})


def patch_health_poll() -> None:
    """Bench-local experiment: the health monitor reads hub.latest_keyframe() once per interval.

    Today HealthMonitor subscribes to the hub and its task wakes for every packet (25/s per
    camera) only to skip non-keyframes. Here it sleeps sample_interval_s, then decodes the
    newest keyframe if it is new. Same decoder, same checks, same reports.
    """
    from streams import health
    from streams.packet import StreamChange

    async def run(self) -> None:  # type: ignore[no-untyped-def]
        hub = getattr(self._hub, "_hub", self._hub)  # Camera may wrap the hub (camera._Sampler)
        streams = None
        last = None
        while True:
            await asyncio.sleep(self.config.sample_interval_s)
            if hub.streams is not streams:
                streams = hub.streams
                self._on_streams(StreamChange(streams))
            decoder = self._decoder
            item = hub.latest_keyframe()
            if decoder is None or item is None or item is last or item.stream != decoder.info.index:
                continue
            last = item
            self.keyframes += 1
            gray = await asyncio.to_thread(decoder.decode_gray, item, health.ANALYSIS_WIDTH)
            if decoder is self._decoder:
                self._on_picture(gray)

    health.HealthMonitor.run = run  # type: ignore[method-assign]


def patch_tick_handoff(period_s: float = 0.02) -> None:
    """Bench-local experiment: source threads never wake the loop; the loop drains all every 20 ms.

    Today each SourceThread calls loop.call_soon_threadsafe (a self-pipe write and an epoll
    wake-up) whenever its deque goes from empty to non-empty: about once per packet when the
    loop keeps up. Here one loop task drains every live SourceThread every `period_s`, so the
    wake-ups are 50/s whatever N is, at the price of up to 20 ms added latency.
    """
    import weakref

    from streams import source

    live: weakref.WeakSet = weakref.WeakSet()
    real_init = source.SourceThread.__init__

    def init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        real_init(self, *args, **kwargs)
        live.add(self)
        if not getattr(source, "_bench_ticker", None):
            async def tick() -> None:
                while True:
                    await asyncio.sleep(period_s)
                    for t in list(live):
                        if t._pending or t._dropped:
                            t._drain()
            source._bench_ticker = asyncio.get_running_loop().create_task(tick())  # type: ignore[attr-defined]

    def push(self, packet):  # type: ignore[no-untyped-def]
        with self._lock:
            if len(self._pending) >= source.HANDOFF_MAX:
                self._pending.popleft()
                self._dropped += 1
            self._pending.append(packet)

    source.SourceThread.__init__ = init  # type: ignore[method-assign]
    source.SourceThread._push = push  # type: ignore[method-assign]


# --------------------------------------------------------------------------- phases


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> str:
    """Block (no CPU) until the worker prints a line starting with marker."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if sel.select(timeout=max(0.0, end - time.monotonic())):
                line = proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"worker exited before {marker}")
                if line.startswith(marker):
                    return line
    raise RuntimeError(f"worker: no {marker} within {timeout:.0f} s")


def pantau_phase(server: Server | camfarm.Farm, n: int, warmup: float, window: float, variant: str = "") -> dict[str, object]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--n", str(n), "--url", ",".join(server.urls(n)),
           "--warmup", str(warmup), "--window", str(window), "--variant", variant]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        _read_until(proc, "WINDOW_START", 90 + warmup)
        s0, sys0, w0 = server.cpu(), system_cpu(), proc_cpu_s(proc.pid)
        _read_until(proc, "WINDOW_END", window + 30)
        s1, sys1, w1 = server.cpu(), system_cpu(), proc_cpu_s(proc.pid)
        line = _read_until(proc, "RESULT", 30)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    res = json.loads(line.split(" ", 1)[1])
    res["server_cpu_s"] = s1 - s0
    res["proc_stat_cpu_s"] = (w1 or 0) - (w0 or 0)  # cross-check of getrusage, 10 ms ticks
    res["busy_cores"] = busy_cores(sys0, sys1)
    return res


FRAME_RE = re.compile(rb"frame=(\d+)")


def _last_frame(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 600))
            found = FRAME_RE.findall(f.read())
    except FileNotFoundError:
        return 0
    return int(found[-1]) if found else 0


def ffmpeg_phase(server: Server | camfarm.Farm, n: int, warmup: float, window: float) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="ffmpeg-progress-", dir=OUT))
    procs: list[subprocess.Popen[bytes]] = []
    progress = [tmp / f"p{i}.txt" for i in range(n)]
    try:
        for i in range(n):
            cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-nostats",
                   "-rtsp_transport", "tcp", "-i", server.urls(n)[i], "-c", "copy", "-f", "null", "-",
                   "-progress", str(progress[i]), "-stats_period", "0.5"]
            procs.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
            time.sleep(STAGGER_S)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(_last_frame(p) > 0 for p in progress):
            time.sleep(0.5)
        started = sum(_last_frame(p) > 0 for p in progress)
        time.sleep(warmup)
        f0 = [_last_frame(p) for p in progress]
        t0 = time.monotonic()
        c0 = [proc_cpu_s(p.pid) for p in procs]
        s0, sys0 = server.cpu(), system_cpu()
        time.sleep(window)
        f1 = [_last_frame(p) for p in progress]
        t1 = time.monotonic()
        c1 = [proc_cpu_s(p.pid) for p in procs]
        s1, sys1 = server.cpu(), system_cpu()
        alive = sum(p.poll() is None for p in procs)
    finally:
        stop_all(procs)
        shutil.rmtree(tmp, ignore_errors=True)
    span = t1 - t0
    cpu = sum((b or 0) - (a or 0) for a, b in zip(c0, c1, strict=True) if a is not None)
    return {
        "n": n,
        "online_at_start": started,
        "alive_at_end": alive,
        "window_s": span,
        "cpu_s": cpu,
        "fps": [(b - a) / span for a, b in zip(f0, f1, strict=True)],
        "server_cpu_s": s1 - s0,
        "busy_cores": busy_cores(sys0, sys1),
    }


def per_stream_min(res: dict[str, object]) -> float:
    return res["cpu_s"] / (res["n"] * res["window_s"] / 60)  # type: ignore[operator]


def fps_ok(res: dict[str, object]) -> bool:
    fps = res["fps"]
    return bool(fps) and min(fps) >= FPS * MIN_FPS_SHARE and res["online_at_start"] == res["n"]  # type: ignore[arg-type,operator]


# --------------------------------------------------------------------------- profile


def profile_phase(server: Server | camfarm.Farm, n: int, warmup: float, seconds: float, variant: str = "") -> str:
    """perf (on-CPU samples: kernel, libav, libpython) then py-spy --gil (Python frames) on one worker."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--n", str(n), "--url", ",".join(server.urls(n)),
           "--warmup", str(warmup), "--window", str(2 * seconds + 6), "--variant", variant]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    tag = f"n{n}{'-' + variant if variant else ''}"
    perf_data, pyspy_raw = OUT / f"perf_{tag}.data", OUT / f"pyspy_{tag}.txt"
    pyspy = Path(sys.executable).with_name("py-spy")
    try:
        _read_until(proc, "WINDOW_START", 90 + warmup)
        if shutil.which("perf"):
            subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "999", "-g", "-p", str(proc.pid),
                            "-o", str(perf_data), "--", "sleep", str(seconds)],
                           check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if pyspy.exists():
            # --gil: only the thread holding the GIL, i.e. where Python code (or C called from it) runs.
            subprocess.run([str(pyspy), "record", "--pid", str(proc.pid), "--gil", "--nonblocking", "--threads",
                            "--rate", "250", "--duration", str(int(seconds)), "--format", "raw",
                            "--output", str(pyspy_raw)],
                           check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _read_until(proc, "RESULT", 2 * seconds + 60)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    parts = [f"Worker with N={n}{' (variant ' + variant + ')' if variant else ''}; "
             f"perf {seconds:g} s then py-spy {seconds:g} s, after warm-up."]
    parts.append(summarize_perf(perf_data) if perf_data.exists() else "perf not available: no native profile.")
    parts.append(summarize_pyspy(pyspy_raw) if pyspy_raw.exists() else
                 "py-spy not available (`.venv/bin/pip install py-spy`): no Python profile.")
    return "\n\n".join(parts)


def _perf_report(data: Path, *extra: str) -> list[tuple[float, str]]:
    out = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "-g", "none", "--percent-limit", "0.05",
                          *extra], capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(?:[\d.]+%\s+)?(.*\S)", line)
        if m and not line.startswith("#"):
            rows.append((float(m.group(1)), m.group(2)))
    return rows


# Syscalls (inclusive kernel time) worth naming, and what they are in Pantau.
SYSCALLS = [
    ("__x64_sys_futex", "futex: GIL hand-offs and lock waits/wakes (context switches)"),
    ("__x64_sys_recvfrom", "recvfrom: RTSP/RTP socket reads (libavformat)"),
    ("__x64_sys_poll", "poll: libavformat waiting on the socket"),
    ("__x64_sys_sendto", "sendto: loop self-pipe wakeups (call_soon_threadsafe)"),
    ("__x64_sys_epoll_wait", "epoll_wait: the event loop"),
    ("__x64_sys_read", "read: self-pipe drain"),
]


def summarize_perf(data: Path) -> str:
    dsos = _perf_report(data, "--no-children", "--sort", "dso")
    syms = dict((name.split("] ", 1)[-1], pct) for pct, name in _perf_report(data, "--children", "--sort", "sym"))
    names = {
        "[kernel.kallsyms]": "kernel (syscalls, scheduler)",
        "libpython3.11.so.1.0": "CPython interpreter",
        "libc.so.6": "libc (malloc, memcpy, pthread)",
    }
    out = ["perf, on-CPU samples of the whole worker process (all threads):", "",
           "| shared object | share of CPU |", "|---|---|"]
    other = 0.0
    for pct, dso in dsos:
        label = names.get(dso, dso)
        if "libavformat" in dso:
            label = "libavformat (RTSP/RTP demux)"
        elif "libavcodec" in dso or "libswscale" in dso:
            label = f"{dso.split('-')[0]} (health keyframe decode / scale)"
        if pct < 0.5:
            other += pct
            continue
        out.append(f"| {label} | {pct:.1f} % |")
    out.append(f"| everything else | {other:.1f} % |")
    out += ["", "Kernel time by syscall (inclusive):", "", "| syscall | share of CPU |", "|---|---|"]
    for sym, label in SYSCALLS:
        if sym in syms:
            out.append(f"| {label} | {syms[sym]:.1f} % |")
    return "\n".join(out)


PY_CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("health: keyframe decode + image checks (to_thread worker)",
     ("decode_gray", "imagecheck", "keyframe.py", "_on_picture")),
    ("source thread: PyAV demux generator (GIL parts) + interrupt callback",
     ("rtsp.py:1", "InputContainer", "interrupt")),
    ("source thread: packet -> MediaPacket (bytes copy)", ("to_media_packet",)),
    ("source thread: handoff push (lock + call_soon_threadsafe)", ("_push (streams/source",)),
    ("loop: drain batch -> stats.update + hub.publish",
     ("_drain (streams/source", "_packets (streams/camera", "publish (streams/hub", "update (streams/stats")),
    ("loop: subscribers (bench drain, health task)", ("drain (ingest", "get (streams/hub", "health.py")),
    ("loop: asyncio machinery (select, callbacks, wakeups)", ("asyncio", "selectors")),
]


def summarize_pyspy(raw: Path) -> str:
    counts: dict[str, int] = collections.Counter()
    leaves: dict[str, int] = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, num = line.rpartition(" ")
        if not num.isdigit():
            continue
        k = int(num)
        total += k
        frames = stack.split(";")
        label = next((name for name, pats in PY_CATEGORIES if any(p in f for f in frames for p in pats)), "other")
        counts[label] += k
        leaves[frames[-1][:100]] += k
    if not total:
        return "py-spy recorded no GIL-holding samples."
    out = [f"py-spy --gil, {total} samples of the thread holding the GIL:", "",
           "| where (Python level) | share of GIL time |", "|---|---|"]
    out += [f"| {name} | {100 * c / total:.1f} % |" for name, c in counts.most_common()]
    out += ["", "Top frames holding the GIL:", ""]
    out += [f"- {100 * c / total:.1f} % `{name}`" for name, c in leaves.most_common(8)]
    return "\n".join(out)


# --------------------------------------------------------------------------- report


def versions() -> dict[str, str]:
    import av

    libs = ", ".join(f"{k} {'.'.join(map(str, v))}" for k, v in av.library_versions.items()
                     if k in ("libavformat", "libavcodec", "libavutil"))
    cli = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.splitlines()[0]
    cli_libs = [ln.strip() for ln in subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True)
                .stdout.splitlines() if ln.startswith("libavformat")]
    model = "?"
    with open("/proc/cpuinfo") as f:
        for ln in f:
            if ln.startswith("model name"):
                model = ln.split(":", 1)[1].strip()
                break
    gst = subprocess.run([SYSTEM_PYTHON, "-c", "import gi; gi.require_version('Gst','1.0');"
                          "from gi.repository import Gst; Gst.init(None); print(Gst.version_string())"],
                         capture_output=True, text=True).stdout.strip()
    head = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %ci"], capture_output=True,
                          text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "streams", "core"],
                           capture_output=True, text=True).stdout.strip()
    return {
        "commit": f"{head}{' + uncommitted changes in streams/ or core/' if dirty else ''}",
        "machine": f"{os.cpu_count()} CPUs (nproc), {model}, {platform.platform()}",
        "python": platform.python_version(),
        "pyav": f"PyAV {av.__version__} (bundled FFmpeg: {libs})",
        "ffmpeg": f"{cli} ({'; '.join(cli_libs)})",
        "gstreamer": gst,
    }


def fmt_fps(res: dict[str, object]) -> str:
    fps = res["fps"]
    if not fps:
        return "-"
    return f"{statistics.median(fps):.1f} (min {min(fps):.1f})"  # type: ignore[arg-type]


def render(rows: list[tuple[dict, dict | None, dict | None]], args: argparse.Namespace, info: dict[str, str],
           profile: str, notes: list[str]) -> str:
    today = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    out = [f"## Ingest CPU (bench/ingest.py), {today}{' (quick)' if args.quick else ''}", ""]
    out += [f"- Code: {info['commit']}", f"- Machine: {info['machine']}", f"- Python {info['python']}; {info['pyav']}",
            f"- ffmpeg CLI: {info['ffmpeg']}", f"- Camera server: bench/camfarm.py (tests/camera_server.py processes, {info['gstreamer']}, "
            "at most 8 clients per shared `file:` mount, 32 per process)", f"- Media: {MEDIA.name} (1080p25, H.264 Main, ~3 Mbit/s, GOP 50, B-frames)",
            f"- Window {args.window:g} s per side after {args.warmup:g} s warm-up; Pantau with default "
            "HealthConfig (sample every 5 s) and one draining subscriber per camera", ""]
    out += ["CPU s/stream-min = process CPU (user+sys) / (N x window minutes). Ratio = Pantau / ffmpeg "
            f"(target <= {PANTAU_TARGET}x). \"exp\" = Pantau with the bench-local native-timeout experiment "
            "(see Notes), not the code in streams/.", ""]
    out += ["| N | Pantau | ffmpeg | ratio | exp | exp ratio | fps Pantau med (min) | fps ffmpeg med (min) | "
            "fps exp med (min) | server cores P / F | machine busy cores P / F / exp | valid |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for p, f, x in rows:
        ps = per_stream_min(p)
        fs = per_stream_min(f) if f else None
        xs = per_stream_min(x) if x else None
        ratio = f"{ps / fs:.2f}x" if fs else "-"
        xratio = f"{xs / fs:.2f}x" if fs and xs is not None else "-"
        valid = all(fps_ok(r) for r in (p, f, x) if r is not None)
        srv = f"{p['server_cpu_s'] / p['window_s']:.2f} / " + (f"{f['server_cpu_s'] / f['window_s']:.2f}" if f else "-")
        busy = " / ".join(f"{r['busy_cores']:.2f}" if r else "-" for r in (p, f, x))
        out.append(f"| {p['n']} | {ps:.3f} | {fs if fs is None else f'{fs:.3f}'} | {ratio} | "
                   f"{'-' if xs is None else f'{xs:.3f}'} | {xratio} | {fmt_fps(p)} | "
                   f"{fmt_fps(f) if f else '-'} | {fmt_fps(x) if x else '-'} | {srv} | {busy} | "
                   f"{'yes' if valid else '**no: streams starved**'} |")
    out += ["", "Pantau details per N (user/sys split, cross-check from /proc, health decodes in window, "
            "reconnects, drops):", ""]
    for p, _, x in rows:
        for tag, r in (("", p), (" exp", x)):
            if r is None:
                continue
            out.append(f"- N={r['n']}{tag}: user {r['user_s']:.2f} s + sys {r['sys_s']:.2f} s = {r['cpu_s']:.2f} s "
                       f"(/proc: {r['proc_stat_cpu_s']:.2f} s) in {r['window_s']:.1f} s; health decodes "
                       f"{r['health_decodes']} (expected ~{r['n'] * r['window_s'] / 6:.0f}: 5 s interval on a 2 s GOP "
                       "= one per 6 s); reconnects "
                       f"{r['reconnects']}; dropped {r['dropped']}; states {dict(r['states'])}")
    out += ["", "### Profile (Pantau worker)", "", profile, ""]
    if notes:
        out += ["### Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(out)


# --------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="N=1,16, 15 s windows, short profile")
    ap.add_argument("--n", default=None, help="comma-separated stream counts (default 1,16,64)")
    ap.add_argument("--window", type=float, default=None, help="measured seconds per side")
    ap.add_argument("--warmup", type=float, default=None, help="seconds after all streams run")
    ap.add_argument("--profile", type=int, default=None, help="N for the py-spy run (0: none)")
    ap.add_argument("--no-ffmpeg", action="store_true", help="Pantau side only")
    ap.add_argument("--no-results", action="store_true", help="do not append to bench/RESULTS.md")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--variant", default="", help=argparse.SUPPRESS)
    ap.add_argument("--no-experiment", action="store_true",
                    help="skip the bench-local native-read-timeout experiment side")
    args = ap.parse_args()
    if args.worker:
        args.n = int(args.n)
        worker_main(args)
        return
    ns = [int(v) for v in (args.n or ("1,16" if args.quick else "1,16,64")).split(",")]
    args.window = args.window or (15.0 if args.quick else 30.0)
    args.warmup = args.warmup if args.warmup is not None else (4.0 if args.quick else 6.0)
    profile_n = args.profile if args.profile is not None else 16
    media = ensure_media()
    sys.path.insert(0, str(BENCH))
    import camfarm
    # Enough camera-server processes for the largest N (bench/camfarm.py); every N uses the first N URLs.
    server = camfarm.Farm(media, max(ns))
    server.start()
    rows: list[tuple[dict, dict | None, dict | None]] = []
    notes: list[str] = []
    try:
        for n in ns:
            log(f"N={n}: Pantau")
            p = pantau_phase(server, n, args.warmup, args.window)
            log(f"  Pantau {per_stream_min(p):.3f} CPU s/stream-min, fps {fmt_fps(p)}, "
                f"server {p['server_cpu_s'] / p['window_s']:.2f} cores, busy {p['busy_cores']:.2f}")
            time.sleep(2)  # let the shared media unprepare: the next phase starts the file afresh
            f = x = None
            if not args.no_ffmpeg:
                log(f"N={n}: ffmpeg")
                f = ffmpeg_phase(server, n, args.warmup, args.window)
                log(f"  ffmpeg {per_stream_min(f):.3f} CPU s/stream-min, fps {fmt_fps(f)}, "
                    f"server {f['server_cpu_s'] / f['window_s']:.2f} cores, busy {f['busy_cores']:.2f}; "
                    f"ratio {per_stream_min(p) / per_stream_min(f):.2f}x")
                time.sleep(2)
            if not args.no_experiment:
                log(f"N={n}: Pantau, experiment native-timeout")
                x = pantau_phase(server, n, args.warmup, args.window, "native-timeout")
                log(f"  Pantau native-timeout {per_stream_min(x):.3f} CPU s/stream-min, fps {fmt_fps(x)}")
                time.sleep(2)
            rows.append((p, f, x))
            if not all(fps_ok(r) for r in (p, f, x) if r is not None):
                notes.append(f"N={n}: streams starved (below {MIN_FPS_SHARE:.0%} of {FPS} fps) or did not all "
                             "connect: invalid; larger N skipped")
                break
        profile = "(no profile run)"
        if profile_n:
            secs = 8 if args.quick else 12
            log(f"profile: perf + py-spy over N={profile_n}")
            profile = profile_phase(server, profile_n, args.warmup, secs)
            if not args.no_experiment:
                log(f"profile: perf + py-spy over N={profile_n}, native-timeout")
                profile += "\n\n#### Same, with the native-timeout experiment\n\n" + profile_phase(
                    server, profile_n, args.warmup, secs, "native-timeout")
    finally:
        server.stop()
    info = versions()
    text = render(rows, args, info, profile, notes)
    print(text)
    if not args.no_results:
        # Append, never rewrite: other benches add their own sections to the same file.
        with open(RESULTS, "a") as f:
            f.write("\n" + text + "\n")
        log(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
