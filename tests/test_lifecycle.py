"""Start-up and shutdown: SIGTERM/Ctrl-C stop 16 cameras in under 5 s, leaving nothing behind."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from core.config import CameraConfig
from tests.fixtures_camera import CameraServer, SilentCamera, free_port
from tests.gatewayutil import make_settings, running_gateway

ROOT = Path(__file__).resolve().parent.parent


def _health(port: int) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
            return json.loads(resp.read())
    except OSError:
        return None
    except ValueError:
        return None


def _all_online(health: dict[str, object] | None, count: int) -> bool:
    if not health:
        return False
    checks = health["checks"]
    assert isinstance(checks, dict)
    states = checks.get("camera:state", [])
    assert isinstance(states, list)
    return sum(c["observedValue"] == "online" for c in states) == count


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_with_16_cameras_stops_cleanly_in_under_5_s(
    tmp_path: Path, camera_server: Callable[..., CameraServer], silent_camera: SilentCamera,
    sig: signal.Signals,
) -> None:
    # One mount per camera: GStreamer's shared media can crash when several clients join
    # one mount at the same instant (seen in CI), which would test the camera, not us.
    server = camera_server({f"cam{i}": "ball" for i in range(16)}, size="320x180", bitrate=300)
    port = free_port()
    config = {
        "data_dir": str(tmp_path / "data"),
        "server": {"host": "127.0.0.1", "port": port},
        "storage": {"path": str(tmp_path / "rec")},
        "health": {"sample_interval_s": 1.0},
        # 16 cameras: 16 RTSP sessions, 16 demux threads.
        "cameras": [{"id": f"cam-{i}", "source": server.url(f"cam{i}")} for i in range(16)]
        # ...and one that accepts the connection and says nothing: at SIGTERM it sits in an
        # open that PyAV cannot interrupt; shutdown must not wait for its 10 s timeout.
        + [{"id": "silent", "source": silent_camera.url(), "open_timeout_s": 10}],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    log_path = tmp_path / "gateway.log"
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "--config", str(path), "serve"],
            cwd=tmp_path, stdout=log_file, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    try:
        deadline = time.monotonic() + 30
        while not _all_online(_health(port), 16):
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, _health(port)
            time.sleep(0.3)
        time.sleep(1.0)  # health sampling and state writes in flight
        sent = time.monotonic()
        proc.send_signal(sig)
        code = proc.wait(timeout=10)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = log_path.read_text()
    assert code == 0, output
    assert took < 5.0, f"shutdown took {took:.1f} s"
    assert "Traceback" not in output and "Task was destroyed" not in output, output
    assert "stopped" in output


def _fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


async def test_in_process_gateway_leaves_no_thread_task_or_fd(
    tmp_path: Path, camera_server: Callable[..., CameraServer]
) -> None:
    server = camera_server({f"m{i}": "ball" for i in range(4)})  # one mount each (see above)
    settings = make_settings(
        tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}",
        [CameraConfig(id=f"c{i}", source=server.url(f"m{i}")) for i in range(4)]
        + [CameraConfig(id="demo", source="demo://pattern")],
        health={"sample_interval_s": 0.5},
    )
    # Warm-up run: first use of libraries opens lasting descriptors (e.g. /dev/urandom).
    async with running_gateway(settings) as client:
        await asyncio.sleep(0.5)
    threads_before = {t.ident for t in threading.enumerate()}
    fds_before = _fds()
    tasks_before = asyncio.all_tasks()
    async with running_gateway(settings) as client:
        deadline = time.monotonic() + 10
        services = client.gateway.services
        assert services is not None
        while any(c.status.state.value != "online" for c in services.cameras.values()):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)
        assert len(threading.enumerate()) > len(threads_before)  # the demux threads ran
    def leftover() -> list[threading.Thread]:
        # asyncio's default executor keeps idle worker threads for reuse; they are not ours.
        return [t for t in threading.enumerate()
                if t.ident not in threads_before and t.is_alive() and not t.name.startswith("asyncio_")]

    # aiosqlite's connection thread ends just after close() returns: a leak is a thread
    # that does not end, so give them a moment.
    deadline = time.monotonic() + 3
    while leftover() and time.monotonic() < deadline:  # noqa: ASYNC110 (threads have no event to await)
        await asyncio.sleep(0.05)
    assert leftover() == []
    assert asyncio.all_tasks() == tasks_before
    assert _fds() - fds_before == set()
