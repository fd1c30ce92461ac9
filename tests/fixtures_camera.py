"""Fixtures that run the GStreamer test camera (tests/camera_server.py). Owned by the streams work."""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

SERVER_SCRIPT = Path(__file__).with_name("camera_server.py")
# The server needs GStreamer's gi bindings, which only Debian's interpreter has.
SYSTEM_PYTHON = "/usr/bin/python3"
READY_TIMEOUT_S = 15.0


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class CameraServer:
    """A running tests/camera_server.py process with named mounts; stop() and restart() keep the port."""

    def __init__(self, mounts: dict[str, str], size: str = "640x360", bitrate: int = 1000) -> None:
        self.mounts = dict(mounts)
        self.size = size
        self.bitrate = bitrate
        self.port = free_port()
        self._proc: subprocess.Popen[str] | None = None
        # The server keeps its playing clients per mount here (sessions()); stop() removes it.
        self.sessions_file = Path(tempfile.gettempdir()) / f"camera-sessions-{os.getpid()}-{self.port}-{id(self)}.json"

    def sessions(self) -> dict[str, int]:
        """RTSP clients playing each mount now (mounts nobody plays are absent), as the server counts."""
        try:
            return {mount: int(n) for mount, n in json.loads(self.sessions_file.read_text()).items()}
        except FileNotFoundError:
            return {}

    def url(self, mount: str, credentials: str | None = None) -> str:
        """rtsp:// URL of one mount, optionally with user:password."""
        auth = f"{credentials}@" if credentials else ""
        return f"rtsp://{auth}127.0.0.1:{self.port}/{mount}"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the server and wait until it prints "ready PORT"."""
        if self.running:
            return
        cmd = [
            SYSTEM_PYTHON,
            str(SERVER_SCRIPT),
            "--port",
            str(self.port),
            "--size",
            self.size,
            "--bitrate",
            str(self.bitrate),
            "--sessions",
            str(self.sessions_file),
        ]
        for name, kind in self.mounts.items():
            cmd += ["--mount", f"{name}={kind}"]
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            # stderr goes to a file: an unread pipe would fill up and stall GStreamer.
            errors = tempfile.TemporaryFile("w+")
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=errors, text=True, start_new_session=True
            )
            self._proc = proc
            line = _readline(proc, deadline)
            if line.startswith("ready "):
                errors.close()
                return
            self.stop()
            errors.seek(0)
            message = errors.read()[-2000:]
            errors.close()
            # A restart can race the old socket's release; try again until the deadline.
            if time.monotonic() >= deadline:
                raise RuntimeError(f"camera server did not start: {line!r} {message}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Kill the server (like a camera losing power) and wait for it to exit."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
        self.sessions_file.unlink(missing_ok=True)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open and go silent."""
        if self._proc is not None:
            os.killpg(self._proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Undo pause()."""
        if self._proc is not None:
            os.killpg(self._proc.pid, signal.SIGCONT)

    def restart(self) -> None:
        """Start again on the same port."""
        self.stop()
        self.start()


def _readline(proc: subprocess.Popen[str], deadline: float) -> str:
    """The server's first stdout line, or "" if it exits or the deadline passes."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if sel.select(timeout=0.1):
                return proc.stdout.readline().strip()
            if proc.poll() is not None:
                return ""
    return ""


@pytest.fixture
def camera_server() -> Iterator[Callable[..., CameraServer]]:
    """Factory: camera_server({"live": "ball"}) starts a test camera; all are killed at teardown."""
    servers: list[CameraServer] = []

    def start(mounts: dict[str, str] | None = None, **kwargs: object) -> CameraServer:
        server = CameraServer(mounts or {"live": "ball"}, **kwargs)  # type: ignore[arg-type]
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


class SilentCamera:
    """A TCP listener on loopback that accepts connections and never sends a byte."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.setblocking(False)
        self.port = int(self._sock.getsockname()[1])
        self.connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="silent-camera", daemon=True)
        self._thread.start()

    def url(self, path: str = "stream", credentials: str | None = None) -> str:
        """rtsp:// URL pointing at the listener."""
        auth = f"{credentials}@" if credentials else ""
        return f"rtsp://{auth}127.0.0.1:{self.port}/{path}"

    def _accept(self) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self._sock, selectors.EVENT_READ)
            while not self._stop.is_set():
                if sel.select(timeout=0.05):
                    try:
                        conn, _ = self._sock.accept()
                    except BlockingIOError:
                        continue
                    self.connections.append(conn)

    def close(self) -> None:
        """Stop accepting and drop every connection."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()
        for conn in self.connections:
            conn.close()


@pytest.fixture
def silent_camera() -> Iterator[SilentCamera]:
    """A camera address that accepts TCP and then says nothing (PyAV issue #584's case)."""
    camera = SilentCamera()
    yield camera
    camera.close()
