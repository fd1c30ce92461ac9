"""Enough RTSP cameras for N = 64 and 128: several tests/camera_server.py processes, each serving a
share of the cameras from a few shared `file:` mounts of the bench clip.

One shared mount is one GStreamer pipeline (demux, parse, payload) whose packets every client of it
gets a copy of; one server process is one GLib main loop answering every RTSP request of its
mounts. 64 simultaneous opens of one mount in one process did not all get answered within the
10 s open timeout (bench/RESULTS.md, 2026-11-28 13:08); here no mount has more than
`per_mount` clients and no process more than `per_server`, so the work of an open is spread
over processes and cores. The mounts are not seekable (camera_server.py publishes them with
CLOCK_AND_OFFSET), so a PLAY does not rewind the clients already watching: each stream is live,
and the clip (600 s) outlasts every bench phase, which starts the farm afresh.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import tempfile
from pathlib import Path

import ingest

# Clients per shared mount and per server process (measured fine: 16 clients on one mount, see
# the ingest runs of 2026-11-28; 8 keeps the burst of opens per mount small).
PER_MOUNT = 8
PER_SERVER = 32


class Farm:
    """`n` camera URLs spread over ceil(n / per_server) camera-server processes."""

    def __init__(self, media: Path, n: int, per_mount: int = PER_MOUNT, per_server: int = PER_SERVER) -> None:
        self.media = media
        self.n = n
        self.per_mount = per_mount
        self.per_server = per_server
        self.procs: list[subprocess.Popen[str]] = []
        self.ports: list[int] = []
        self._urls: list[str] = []
        self._stderr = [tempfile.TemporaryFile("w+") for _ in range(-(-n // per_server))]

    def urls(self, n: int | None = None) -> list[str]:
        """The URLs of the first n cameras (all by default), camera i on mount i // per_mount."""
        return self._urls[:n]

    def start(self) -> None:
        """Start every server process and wait until each says it listens."""
        mounts_per_server = -(-self.per_server // self.per_mount)
        for s in range(-(-self.n // self.per_server)):
            port = ingest.free_port()
            cams = range(s * self.per_server, min(self.n, (s + 1) * self.per_server))
            mounts = sorted({(c - s * self.per_server) // self.per_mount for c in cams})
            cmd = [ingest.SYSTEM_PYTHON, str(ingest.SERVER_SCRIPT), "--port", str(port)]
            for m in mounts:
                cmd += ["--mount", f"m{m}=file:{self.media}"]
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._stderr[s], text=True,
                                    start_new_session=True)
            self.procs.append(proc)
            self.ports.append(port)
            self._urls += [f"rtsp://127.0.0.1:{port}/m{(c - s * self.per_server) // self.per_mount}" for c in cams]
            assert len(mounts) <= mounts_per_server
        for s, proc in enumerate(self.procs):
            assert proc.stdout is not None
            with selectors.DefaultSelector() as sel:
                sel.register(proc.stdout, selectors.EVENT_READ)
                if not sel.select(timeout=20):
                    raise RuntimeError("camera server did not start")
            line = proc.stdout.readline().strip()
            if not line.startswith("ready"):
                self._stderr[s].seek(0)
                raise RuntimeError(f"camera server failed: {line!r} {self._stderr[s].read()[-2000:]}")

    def cpu(self) -> float:
        """CPU seconds (user+sys) of all server processes so far."""
        return sum(ingest.proc_cpu_s(p.pid) or 0.0 for p in self.procs)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in self.procs:
            proc.wait(10)
        self.procs = []

    def __enter__(self) -> Farm:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
