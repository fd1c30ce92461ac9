"""The worker processes of bench/pipeline_candidates.py: one recording design each, N cameras.

Every worker connects its N cameras 0.1 s apart, waits until all deliver, warms up, prints
WINDOW_START, sleeps the window, prints WINDOW_END and a RESULT line (JSON): per-camera fps over
the window, seal latencies, segments sealed, health decodes. The parent reads CPU and memory of
the worker and its children from /proc between the two markers.

  pantau  today's Pantau: streams.camera.Camera + hub + health + recorder.service.Recorder
          (fMP4, SHA-256 while writing, fsync, rename, chmod, SQLite index), as bench/record.py
  ffpipe  one `ffmpeg -c copy -f mp4 -movflags frag_keyframe+empty_moov+default_base_moof pipe:1`
          child per camera; bench/fragsink.py reads all pipes in one thread and writes segments
  gst     one GStreamer pipeline per camera in this process (rtspsrc ! rtph264depay ! h264parse !
          splitmuxsink(mp4mux fragmented, fdsink into a pipe)); the same fragsink reads the pipes
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGGER_S = 0.1
CONNECT_S = 90.0


def emit(tag: str, payload: dict | None = None) -> None:
    print(tag + ("" if payload is None else " " + json.dumps(payload)), flush=True)


# --------------------------------------------------------------------------- pantau


async def _pantau(args: argparse.Namespace, urls: list[str]) -> None:
    from core.clock import SystemClock
    from core.config import CameraConfig, Settings
    from core.db import make_engine, make_sessionmaker
    from gateway.migrations import upgrade
    from recorder.reports import LogOnlySink
    from recorder.service import Recorder
    from streams import keyframe
    from streams.camera import Camera
    from streams.state import CameraState

    decodes = [0]
    original = keyframe.KeyframeDecoder.decode_gray

    def counted(self, packet, width=None):  # type: ignore[no-untyped-def]
        decodes[0] += 1
        return original(self, packet, width)

    keyframe.KeyframeDecoder.decode_gray = counted  # type: ignore[method-assign]
    out = Path(args.out)
    db_url = f"sqlite+aiosqlite:///{out / 'index.db'}"
    await asyncio.to_thread(upgrade, db_url)
    settings = Settings(
        storage={"path": out / "rec"}, database={"url": db_url},
        recording={"segment_s": args.segment, "min_free_bytes": 0},
        cameras=[CameraConfig(id=f"cam{i}", source=url) for i, url in enumerate(urls)],
    )
    clock = SystemClock()
    engine = make_engine(db_url)
    cams = {c.id: Camera(c, settings.camera_health(c), settings.hub.subscriber_queue, clock)
            for c in settings.cameras}
    recorder = Recorder(settings, make_sessionmaker(engine), clock, cams, LogOnlySink())
    tasks = [asyncio.create_task(recorder.run())]
    opened = time.monotonic()
    for cam in cams.values():  # staggered opens, as every side of this bench
        tasks.append(asyncio.create_task(cam.run()))
        await asyncio.sleep(STAGGER_S)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CONNECT_S
    while loop.time() < deadline and not all(c.status.state == CameraState.ONLINE for c in cams.values()):  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    online = sum(c.status.state == CameraState.ONLINE for c in cams.values())
    connect_s = time.monotonic() - opened
    await asyncio.sleep(args.warmup)

    def snap() -> tuple[float, list[int], int]:
        return time.monotonic(), [c.stats.packets_total for c in cams.values()], decodes[0]

    a = snap()
    lat0 = len(recorder.state.latencies)
    sealed0 = recorder.state.sealed_total
    emit("WINDOW_START")
    await asyncio.sleep(args.window)
    b = snap()
    emit("WINDOW_END")
    latencies = list(recorder.state.latencies)[lat0:]
    sealed = recorder.state.sealed_total - sealed0
    stopping = time.monotonic()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await engine.dispose()
    stop_s = time.monotonic() - stopping
    span = b[0] - a[0]
    emit("RESULT", {"online": online, "fps": [(y - x) / span for x, y in zip(a[1], b[1], strict=True)],
                    "latencies": latencies, "sealed": sealed, "health": b[2] - a[2], "connect_s": connect_s,
                    "stop_s": stop_s})


# --------------------------------------------------------------------------- ffpipe / gst


FMP4 = "frag_keyframe+empty_moov+default_base_moof"


def _ffmpeg(url: str, live_fd: int | None, log: Path) -> subprocess.Popen[bytes]:
    """The recording child; with `live_fd`, the tee muxer also writes MPEG-TS there for live viewers."""
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", url]
    if live_fd is None:
        cmd += ["-c", "copy", "-f", "mp4", "-movflags", FMP4, "pipe:1"]
    else:
        cmd += ["-map", "0", "-c", "copy", "-f", "tee", f"[f=mp4:movflags={FMP4}]pipe\\:1|[f=mpegts]pipe\\:{live_fd}"]
    with open(log, "wb") as err:  # ffmpeg's own errors (-loglevel error), kept beside the segments
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                                pass_fds=() if live_fd is None else (live_fd,))


class Drain:
    """Reads and discards what live pipes hold, every fragsink tick, in large reads: the price of a
    live output nobody watches (a viewer would get a PyAV demuxer over the same pipe)."""

    def __init__(self) -> None:
        import threading

        self.fds: list[int] = []
        self.bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import fragsink

        while not self._stop.wait(fragsink.TICK_S):
            for fd in list(self.fds):
                try:
                    while chunk := os.read(fd, fragsink.PIPE_BYTES):
                        self.bytes += len(chunk)
                except BlockingIOError:
                    pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def _gst_pipelines() -> object:
    import gi

    gi.require_version("Gst", "1.0")
    from gi.repository import Gst

    Gst.init(None)
    return Gst


def _gst(Gst: object, url: str, fd: int, segment_s: float, variants: set[str]) -> object:
    """rtspsrc ! depay ! parse ! splitmuxsink: a new fragmented MP4 per segment, cut at a keyframe."""
    # Tried: rtspsrc buffer-mode=0 (no jitterbuffer slaving), with and without do-rtcp=false: some
    # streams never delivered a fragment (splitmuxsink waited), so the jitterbuffer stays.
    extra = ""
    pipe = Gst.parse_launch(  # type: ignore[attr-defined]
        f"rtspsrc location={url} protocols=tcp latency=0{extra} ! rtph264depay ! h264parse name=parse")
    split = Gst.ElementFactory.make("splitmuxsink")  # type: ignore[attr-defined]
    mux = Gst.ElementFactory.make("mp4mux")  # type: ignore[attr-defined]
    # Fragments of ~1 s (mp4mux cuts them by time, not at keyframes); streamable: moov first, never seeks.
    mux.set_property("fragment-duration", 1000)
    mux.set_property("streamable", True)
    sink = Gst.ElementFactory.make("fdsink")  # type: ignore[attr-defined]
    sink.set_property("fd", fd)
    sink.set_property("sync", False)
    split.set_property("muxer", mux)
    split.set_property("sink", sink)
    split.set_property("max-size-time", int(segment_s * 1e9))
    pipe.add(split)
    pipe.get_by_name("parse").link(split)
    pipe.set_state(Gst.State.PLAYING)  # type: ignore[attr-defined]
    return pipe


def _fragments(args: argparse.Namespace, urls: list[str]) -> None:
    import fragsink

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    variants = set(args.variant.split("+"))
    if "tick1" in variants:  # the reader wakes once a second instead of five times (pipes hold 2.7 s)
        fragsink.TICK_S = 1.0
    sink = fragsink.FragmentSink(out, args.segment, cut_on_init=args.side == "gst")
    sink.start()
    procs: list[subprocess.Popen[bytes]] = []
    pipelines: list[object] = []
    Gst = _gst_pipelines() if args.side == "gst" else None
    if "nohealth" in variants:
        sink.health_s = float("inf")
    for v in variants:  # healthNN: one keyframe decoded per camera every NN seconds instead of 5
        if v.startswith("health") and v[6:].isdigit():
            sink.health_s = float(v[6:])
    drain = Drain() if "live" in variants else None
    opened = time.monotonic()
    for i, url in enumerate(urls):
        if args.side == "ffpipe":
            live = None
            if drain is not None:
                live, w = os.pipe()
                import fcntl

                import fragsink as fs
                fcntl.fcntl(live, fs.F_SETPIPE_SZ, fs.PIPE_BYTES)
                os.set_blocking(live, False)
            proc = _ffmpeg(url, None if drain is None else w, out / f"cam{i}.log")
            if drain is not None:
                os.close(w)
                drain.fds.append(live)
            procs.append(proc)
            assert proc.stdout is not None
            sink.add(f"cam{i}", proc.stdout.fileno())
        else:
            r, w = os.pipe()
            pipelines.append(_gst(Gst, url, w, args.segment, variants))
            sink.add(f"cam{i}", r)
        time.sleep(STAGGER_S)
    deadline = time.monotonic() + CONNECT_S
    while time.monotonic() < deadline and not all(c.fragments for c in sink.cameras):
        time.sleep(0.2)
    online = sum(bool(c.fragments) for c in sink.cameras)
    connect_s = time.monotonic() - opened
    time.sleep(args.warmup)
    lat0, sealed0, health0 = len(sink.latencies), sum(c.sealed for c in sink.cameras), sink.health_decodes
    t0 = time.monotonic()
    emit("WINDOW_START")
    time.sleep(args.window)
    t1 = time.monotonic()
    emit("WINDOW_END")
    result = {"online": online, "fps": [c.fps(t0, t1) for c in sink.cameras],
              "latencies": sink.latencies[lat0:], "sealed": sum(c.sealed for c in sink.cameras) - sealed0,
              "health": sink.health_decodes - health0, "connect_s": connect_s,
              "live_bytes": drain.bytes if drain is not None else None}
    stopping = time.monotonic()
    for proc in procs:
        proc.terminate()
    for pipe in pipelines:
        pipe.set_state(Gst.State.NULL)  # type: ignore[attr-defined]
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    sink.stop()
    if drain is not None:
        drain.stop()
    result["stop_s"] = time.monotonic() - stopping
    emit("RESULT", result)


def main(args: argparse.Namespace) -> None:
    import logging

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    logging.basicConfig(level=logging.WARNING, format="worker %(levelname)s %(name)s: %(message)s")
    urls = args.urls.split(",")
    if args.side == "pantau":
        asyncio.run(_pantau(args, urls))
    else:
        _fragments(args, urls)
