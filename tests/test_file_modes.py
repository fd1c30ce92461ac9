"""`pantau serve` keeps what it writes to its owner: the database, keys, recordings and their folders
(umask 077; sealed segments read-only to the owner), so another local user reads nothing."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.fixtures_camera import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(90)
def test_serve_writes_owner_only_files(tmp_path: Path) -> None:
    data, rec = tmp_path / "data", tmp_path / "rec"
    config = {"data_dir": str(data), "server": {"host": "127.0.0.1", "port": free_port()},
              "storage": {"path": str(rec)}, "recording": {"segment_s": 2, "min_free_bytes": 0}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    log_path = tmp_path / "gateway.log"
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "--config", str(path), "serve", "--demo"],
            cwd=tmp_path, stdout=log_file, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)}, umask=0o022,  # a usual login umask
        )
    try:
        deadline = time.monotonic() + 60
        while not list(rec.rglob("*.mp4")):
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "no segment sealed"
            time.sleep(0.3)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, log_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    found = [p for root in (data, rec) for p in [root, *root.rglob("*")]]
    assert any(p.suffix == ".mp4" for p in found) and any(p.name == "pantau.db" for p in found)
    others = {str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode))
              for p in found if stat.S_IMODE(p.stat().st_mode) & 0o077}
    assert not others, f"readable or writable by others: {others}"
    for segment in rec.rglob("*.mp4"):
        assert stat.S_IMODE(segment.stat().st_mode) == 0o400, segment
