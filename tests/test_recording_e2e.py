"""A user's view of recording: serve, kill -9, serve again; every sealed segment is there and verified,
and the time the gateway was down is a gap."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures_camera import CameraServer, free_port

ROOT = Path(__file__).resolve().parent.parent


def _call(port: int, path: str, token: str | None = None, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        return json.loads(resp.read())


@contextmanager
def gateway(config: Path, cwd: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "--config", str(config), "serve"], cwd=cwd, stdout=out,
            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def _wait(predicate: Callable[[], bool], within: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"{what} not within {within} s\n{log.read_text()[-3000:]}")


@pytest.mark.timeout(240)
def test_kill_minus_9_and_restart_keeps_every_sealed_segment_and_shows_the_gap(
    tmp_path: Path, camera_server: Callable[..., CameraServer]
) -> None:
    server = camera_server({"live": "ball"})
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "data_dir": str(tmp_path / "data"),
        "server": {"host": "127.0.0.1", "port": port},
        "storage": {"path": str(tmp_path / "rec")},
        "recording": {"segment_s": 4, "min_free_bytes": 0},
        "cameras": [{"id": "gate", "source": server.url("live")}],
    }))
    log = tmp_path / "gateway.log"
    started = datetime.now(UTC) - timedelta(minutes=1)
    ended = started + timedelta(hours=2)
    window = "start={}&end={}".format(*(t.isoformat().replace("+00:00", "Z") for t in (started, ended)))

    def recordings(token: str) -> dict[str, Any]:
        return _call(port, f"/api/v1/recordings?camera=gate&{window}", token)  # type: ignore[no-any-return]

    with gateway(config, tmp_path, log) as proc:
        _wait(lambda: _call(port, "/livez")["status"] == "pass", 30, "gateway up", log)
        password = (tmp_path / "data" / "initial-admin-password").read_text().strip()
        token = _call(port, "/api/v1/session", body={"username": "admin", "password": password})["token"]
        _wait(lambda: len(recordings(token)["segments"]) >= 3, 40, "three sealed segments", log)
        time.sleep(1.7)  # mid-segment
        before = recordings(token)["segments"]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    killed_at = datetime.now(UTC)
    time.sleep(3)  # the gateway is down: this must show as a gap

    with gateway(config, tmp_path, log):
        _wait(lambda: _call(port, "/livez")["status"] == "pass", 30, "gateway up again", log)
        token = _call(port, "/api/v1/session", body={"username": "admin", "password": password})["token"]
        _wait(lambda: len(recordings(token)["segments"]) >= len(before) + 2, 40, "recording again", log)
        after = recordings(token)

    kept = {s["sha256"] for s in after["segments"]}
    assert {s["sha256"] for s in before} <= kept, "a sealed segment was lost"
    statuses = [s["status"] for s in after["segments"]]
    assert "recovered" in statuses or any("quarantin" in line for line in log.read_text().splitlines())
    gaps = [g for g in after["gaps"] if g["reason"] == "recorder was not running"]
    assert len(gaps) == 1, after["gaps"]
    gap_start = datetime.fromisoformat(gaps[0]["start"].replace("Z", "+00:00"))
    gap_end = datetime.fromisoformat(gaps[0]["end"].replace("Z", "+00:00"))
    assert gap_start <= killed_at <= gap_end
    assert gap_end - gap_start >= timedelta(seconds=3)
    # Segments never overlap.
    spans = sorted((s["start"], s["end"]) for s in after["segments"])
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)), spans

    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)}
    verify = subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), "verify-recordings"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    audit = subprocess.run([sys.executable, "-m", "gateway", "--config", str(config), "verify-log"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert audit.returncode == 0, audit.stdout + audit.stderr
