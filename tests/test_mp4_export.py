"""MP4 copies of a real recording of the GStreamer test camera, in a signed evidence bundle that
`pantau verify-bundle` checks; the progress bars of verify-recordings, reindex and verify-log.

One recording per module (SQLite, one camera, about four 2 s segments), made once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from core.clock import SystemClock
from core.config import Settings
from core.configfile import load_settings
from core.db import make_engine, make_sessionmaker
from core.progress import ProgressBars
from gateway.cli import main
from gateway.migrations import upgrade
from policy.audit.origin import known_origin
from policy.audit.cli import verify_log
from policy.audit.bundleproof import MANIFEST_DIGEST, log_export
from policy.audit.entries import AccessAction, AccessEvent
from policy.audit.setup import key_path, open_access_log
from policy.audit.signingkey import load_or_create_key, public_key_text
from recorder.bundle import MANIFEST, SUMS, copy_segments, manifest, manifest_bytes, plan_bundle, sums_text
from recorder.export import StopReason
from recorder.models import Segment
from recorder.mp4export import Mp4Result, export_mp4, file_entries, frames_csv
from recorder.reader import SegmentReader
from recorder.reports import RecordingEventKind
from recorder.store import SegmentStore
from recorder.verify import reindex_recordings
from tests.fixtures_camera import CameraServer
from tests.recorder.helpers import recording, rows, wait_for
from tests.terminal import on_terminal
from tests.recorder.test_mp4export import assert_time_code_names_every_frame, decode_errors, probe

pytestmark = pytest.mark.timeout(120)


@dataclass
class Recorded:
    config: Path
    settings: Settings
    segments: list[Segment]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    root = tmp_path_factory.mktemp("mp4")
    server = CameraServer({"live": "ball"})
    server.start()
    try:
        db_url = f"sqlite+aiosqlite:///{root / 'pantau.db'}"
        upgrade(db_url)
        config = root / "config.yaml"
        config.write_text(
            f"data_dir: {root / 'data'}\nstorage: {{path: {root / 'rec'}}}\ndatabase: {{url: \"{db_url}\"}}\n"
            "recording: {segment_s: 2}\n"
            f"cameras:\n  - {{id: cam1, name: Gate, source: \"{server.url('live')}\", "
            "backoff: {initial_s: 0.3, max_s: 0.6, jitter: 0}}\n"
        )
        settings = load_settings(config)

        async def record() -> None:
            async with recording(settings) as run:
                await wait_for(lambda: sum(e.kind == RecordingEventKind.SEGMENT_SEALED
                                           for e in run.sink.events) >= 4, 40)

        asyncio.run(record())
        segs, _ = asyncio.run(rows(db_url))
        assert len(segs) >= 4
        yield Recorded(config, settings, segs)
    finally:
        server.stop()


async def _export(settings: Settings, start: datetime, end: datetime, out: Path,
                  progress: Callable[[int], None] | None = None) -> list[Mp4Result]:
    engine = make_engine(settings.database_url)
    try:
        reader = SegmentReader(make_sessionmaker(engine), SegmentStore(settings.storage.path))
        return await export_mp4(reader, "cam1", "Gate", start, end, out, progress)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def exported(recorded: Recorded, tmp_path_factory: pytest.TempPathFactory) -> tuple[Mp4Result, list[int]]:
    segs = recorded.segments
    start, end = segs[0].start + timedelta(seconds=0.3), segs[2].end
    read: list[int] = []
    results = asyncio.run(_export(recorded.settings, start, end, tmp_path_factory.mktemp("out") / "cam1.mp4",
                                  read.append))
    assert len(results) == 1
    return results[0], read


def test_mp4_of_a_recording_is_the_camera_stream_with_a_utc_time_code(
    recorded: Recorded, exported: tuple[Mp4Result, list[int]], tmp_path: Path
) -> None:
    result, read = exported
    segs = recorded.segments
    assert result.stop is StopReason.WINDOW_END
    assert segs[0].start + timedelta(seconds=0.3) <= result.first < segs[1].start + timedelta(seconds=0.1)
    assert result.end <= segs[2].end
    # Every segment the reader opened for the window, at its size: what a job shows as bytes done.
    assert read == [s.bytes for s in segs[:3]]
    assert decode_errors(result.path) == ""
    streams = probe(result.path)
    assert [s["codec_type"] for s in streams] == ["video", "subtitle"]
    video, timecode = streams
    source = probe(recorded.settings.storage.path / segs[1].path)[0]
    same = ("codec_name", "profile", "level", "width", "height", "pix_fmt", "codec_tag_string", "has_b_frames")
    assert {k: video[k] for k in same} == {k: source[k] for k in same}, "copied, not transcoded"
    assert (timecode["codec_name"], timecode["codec_tag_string"]) == ("mov_text", "tx3g")
    packets = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets", "-show_entries",
                              "stream=nb_read_packets", "-of", "csv=p=0", str(result.path)],
                             capture_output=True, text=True, check=True).stdout
    assert int(packets) == result.frames == len(result.frame_times) >= 100
    assert_time_code_names_every_frame(result, "Gate", tmp_path)
    csv_rows = frames_csv(result).decode().splitlines()
    assert len(csv_rows) == result.frames + 1
    assert csv_rows[-1].endswith(datetime.fromtimestamp(result.frame_times[-1], result.first.tzinfo)
                                 .isoformat(timespec="microseconds").replace("+00:00", "Z"))


def test_a_window_past_the_recording_exports_what_exists(recorded: Recorded, tmp_path: Path) -> None:
    """The reader ends such a window with a gap: it ends the file, and no second one is made."""
    segs = recorded.segments
    results = asyncio.run(_export(recorded.settings, segs[-2].start, segs[-1].end + timedelta(seconds=30),
                                  tmp_path / "tail.mp4"))
    assert [r.path.name for r in results] == ["tail.mp4"] and results[0].stop is StopReason.GAP
    assert decode_errors(results[0].path) == ""


async def _signed_bundle(settings: Settings, out: Path, result: Mp4Result, with_segments: bool) -> None:
    """A bundle as an export job writes one: the MP4 and its frame times listed under `files`,
    with or without the original segments, its manifest logged and proven."""
    clock = SystemClock()
    engine = make_engine(settings.database_url)
    try:
        db = make_sessionmaker(engine)
        plans = await plan_bundle(db, clock, ["cam1"], result.first, result.end)
        if not with_segments:
            plans = [dataclasses.replace(p, segments=()) for p in plans]
        names = ("mp4/cam1.mp4", "mp4/cam1.frames.csv")
        files = file_entries(result, *names)
        doc = manifest(plans, result.first, result.end, exported_at=clock.now(), exported_by="officer-budi",
                       reason="police request", case="LP/1", gateway_version="test", files=files)
        raw = manifest_bytes(doc)
        access_log = await open_access_log(settings, engine, clock)
        key = await asyncio.to_thread(load_or_create_key, key_path(settings))
        event = AccessEvent(AccessAction.EXPORT, actor="officer-budi",
                            details={MANIFEST_DIGEST: hashlib.sha256(raw).hexdigest()})
        proof = await log_export(access_log, engine, event, public_key_text(key, access_log.origin))
        with zipfile.ZipFile(out, "x") as zf:
            if with_segments:
                copy_segments(zf, SegmentStore(settings.storage.path), plans, lambda _: None)
            zf.write(result.path, names[0])
            zf.writestr(names[1], frames_csv(result))
            for name, data in {MANIFEST: raw, SUMS: sums_text(doc).encode(), **proof.files()}.items():
                zf.writestr(name, data)
    finally:
        await engine.dispose()


def verify(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, str]:
    code = main(["verify-bundle", str(path)])
    return code, capsys.readouterr().out


def rewrite(src: Path, dst: Path, change: Callable[[dict[str, bytes]], None]) -> Path:
    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    change(members)
    with zipfile.ZipFile(dst, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return dst


def _flip_mp4(members: dict[str, bytes]) -> None:
    data = bytearray(members["mp4/cam1.mp4"])
    data[len(data) // 2] ^= 1
    members["mp4/cam1.mp4"] = bytes(data)


def _drop_frames(members: dict[str, bytes]) -> None:
    del members["mp4/cam1.frames.csv"]


@pytest.mark.parametrize("with_segments", [True, False], ids=["segments-and-mp4", "mp4-only"])
def test_bundle_lists_the_mp4_and_verify_checks_it(
    recorded: Recorded, exported: tuple[Mp4Result, list[int]], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    with_segments: bool,
) -> None:
    result = exported[0]
    path = tmp_path / "bundle.zip"
    asyncio.run(_signed_bundle(recorded.settings, path, result, with_segments))
    code, out = verify(capsys, path)
    # The segments the MP4's span touches: it starts at the first keyframe after the window's start,
    # in the first segment when that holds two GOPs, else at the second.
    touched = [s for s in recorded.segments if s.start < result.end and s.end > result.first]
    segments = len(touched) if with_segments else 0
    assert segments in ((2, 3) if with_segments else (0,))
    assert code == 0 and out.startswith(f"bundle OK: {segments} segment(s) and 2 other file(s) checked"), out
    with zipfile.ZipFile(path) as zf:
        doc = json.loads(zf.read(MANIFEST))
        zf.extractall(tmp_path / "unpacked")
    assert [(f["name"], f["kind"], f["camera"], f["frames"]) for f in doc["files"]] == [
        ("mp4/cam1.mp4", "mp4", "cam1", result.frames), ("mp4/cam1.frames.csv", "frames", "cam1", result.frames)]
    # By hand, as the bundle's README says: every line of SHA256SUMS checks, the MP4 too.
    check = subprocess.run(["sha256sum", "-c", SUMS], cwd=tmp_path / "unpacked", capture_output=True, text=True)
    assert check.returncode == 0 and "mp4/cam1.mp4: OK" in check.stdout, check
    assert check.stdout.count(": OK") == segments + 2

    code, out = verify(capsys, rewrite(path, tmp_path / "flipped.zip", _flip_mp4))
    assert code == 1 and out.startswith("bundle INVALID: file mp4/cam1.mp4: sha256 "), out
    code, out = verify(capsys, rewrite(path, tmp_path / "dropped.zip", _drop_frames))
    assert code == 1 and "file mp4/cam1.frames.csv is in the manifest but not in the bundle" in out, out


def test_progress_bars_on_a_terminal_only(
    recorded: Recorded, exported: tuple[Mp4Result, list[int]], capsys: pytest.CaptureFixture[str]
) -> None:
    config = recorded.config
    asyncio.run(_log_something(recorded.settings))  # verify-log needs a log with its key
    code, shown = on_terminal(config, "verify-recordings")
    assert code == 0 and "verifying segments" in shown and "MB" in shown, shown
    code, shown = on_terminal(config, "reindex", "--dry-run", "--quiet")
    assert code == 0 and shown == "", shown
    # The other bars drawn in this process (rich draws the final state once when not a terminal).
    settings = recorded.settings
    assert verify_log(settings.database_url, key_path(settings), origin=known_origin(settings),
                      bars=ProgressBars(True)) == 0
    out, err = capsys.readouterr()
    assert "access log OK" in out and "verifying log entries" in err, (out, err)
    assert reindex_recordings(settings, apply=False, bars=ProgressBars(True)) == 0
    out, err = capsys.readouterr()
    count = len(recorded.segments)
    assert "index agrees with disk" in out and "reading segment files" in err and f"{count}/{count}" in err, err
    # Not a terminal (captured): no bar, the result only.
    for args in (["verify-recordings"], ["reindex", "--dry-run"], ["verify-log"]):
        assert main(["--config", str(config), *args]) == 0
        out, err = capsys.readouterr()
        assert "verifying" not in err and "reading" not in err and out, (args, out, err)


async def _log_something(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    try:
        access_log = await open_access_log(settings, engine, SystemClock())
        await access_log.record(AccessEvent(AccessAction.USER_CREATED, actor="test", details={"username": "x"}))
        await access_log.checkpoint()
    finally:
        await engine.dispose()


class _Terminal:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(("tty", "quiet", "show"), [(True, False, True), (True, True, False), (False, False, False),
                                                    (False, True, False)])
def test_bars_show_only_on_a_terminal_without_quiet(tty: bool, quiet: bool, show: bool) -> None:
    bars = ProgressBars.for_terminal(quiet, _Terminal(tty))  # type: ignore[arg-type]
    assert bars.show is show
