"""kill -9 of a recording process at random moments: nothing sealed is lost, the open
segment is recovered or quarantined, and the index verifies."""

from __future__ import annotations

import asyncio
import os
import random
import selectors
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from core.db import make_engine, make_sessionmaker
from recorder.segmentfile import hash_file
from recorder.store import SegmentStore
from recorder.verify import verify_index
from tests.recorder.helpers import rows

RUNNER = Path(__file__).with_name("runner.py")
ROOT = Path(__file__).resolve().parents[2]


def start_runner(url: str, storage: Path, db_url: str, log: Path) -> subprocess.Popen[str]:
    with open(log, "a") as errors:
        proc = subprocess.Popen(
            [sys.executable, str(RUNNER), "--url", url, "--storage", str(storage), "--db", db_url,
             "--segment-s", "2"],
            stdout=subprocess.PIPE, stderr=errors, text=True, cwd=ROOT,
        )
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        assert sel.select(timeout=30), "runner did not start"
    assert proc.stdout.readline().strip() == "ready"
    return proc


def sealed_on_disk(storage: Path) -> dict[str, str]:
    store = SegmentStore(storage)
    return {store.relative(p): hash_file(p)[0] for p in store.finals()}


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_kill9_ten_times(camera_server: Any, tmp_path: Path, sqlite_url: str) -> None:
    # With G.711 sound, transcoded to AAC (test_recording_e2e.py kills a gateway recording video only).
    server = camera_server({"live": "ball+pcma"})
    storage = tmp_path / "rec"
    log = tmp_path / "runner.log"
    rng = random.Random(int(os.environ.get("PANTAU_CRASH_SEED", "7")))
    sealed_before_kill: dict[str, str] = {}
    partials_seen = 0
    for _ in range(10):
        proc = start_runner(server.url("live"), storage, sqlite_url, log)
        await asyncio.sleep(rng.uniform(2.5, 7.0))
        snapshot = await asyncio.to_thread(sealed_on_disk, storage)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()
        sealed_before_kill.update(snapshot)
        partials_seen += len(list((storage / "cam1" / ".partial").glob("*.part")))
    # One more start recovers the last kill's leftovers; then a clean stop.
    proc = start_runner(server.url("live"), storage, sqlite_url, log)
    await asyncio.sleep(3)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    assert proc.stdout is not None
    proc.stdout.close()

    segs, gaps = await rows(sqlite_url)
    indexed = {s.path: s.sha256 for s in segs}
    for path, sha in sealed_before_kill.items():
        assert indexed.get(path) == sha, f"sealed segment {path} lost or changed"
    assert partials_seen >= 5  # most kills hit an open segment
    assert not list((storage / "cam1" / ".partial").glob("*"))
    recovered = [s for s in segs if s.status == "recovered"]
    # Sealed or recovered, every segment says what the recorder did to the sound (its header kept it).
    assert {(s.audio_codec, s.audio_source_codec) for s in segs} == {("aac", "pcm_alaw")}
    quarantined = list((storage / ".quarantine").glob("*")) if (storage / ".quarantine").exists() else []
    assert len(recovered) + len(quarantined) >= partials_seen - 1
    assert len(gaps) >= 10 and all(g.end is not None for g in gaps)
    engine = make_engine(sqlite_url)
    try:
        assert await verify_index(make_sessionmaker(engine), SegmentStore(storage)) == []
    finally:
        await engine.dispose()
    for prev, nxt in zip(segs, segs[1:], strict=False):
        assert nxt.prev_sha256 == prev.sha256
        assert nxt.start >= prev.end - timedelta(milliseconds=1)
