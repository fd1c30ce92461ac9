"""`pantau export` and `pantau verify-bundle` on a real recording of the GStreamer test camera.

One recording per module (SQLite and, when reachable, PostgreSQL at once, from one camera):
about 7 s, a 2 s stop of the recorder (a real gap row), then about 5 s more, in 2 s segments.
Every test exports from it, or tampers with a copy of a bundle, and runs the real CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.clock import SystemClock
from core.config import CameraConfig
from gateway.cli import main
from gateway.migrations import upgrade
from policy.audit.signingkey import public_key_text
from policy.audit.signednote import Checkpoint, NoteSigner
from recorder.reports import RecordingEventKind
from recorder.models import Segment
from streams.camera import Camera
from tests.terminal import on_terminal
from tests.fixtures_camera import CameraServer
from tests.fixtures_db import _copy_of
from tests.recorder.helpers import recording, rows, settings_for, wait_for
from tests.recorder.test_recording import flip_byte

pytestmark = pytest.mark.timeout(120)


@dataclass
class Store:
    """One backend's recording: its config file for the CLI, and the index rows."""

    config: Path
    storage: Path
    db_url: str
    segments: list[Segment]  # cam1's
    gap_start: datetime  # cam1's outage
    others: list[Segment]  # cam2's


@dataclass
class Recorded:
    sqlite: Store
    pg: Store | None


def _config(root: Path, storage: Path, db_url: str, urls: dict[str, str]) -> Path:
    path = root / "config.yaml"
    path.write_text(
        f"data_dir: {root / 'data'}\nstorage: {{path: {storage}}}\ndatabase: {{url: \"{db_url}\"}}\n"
        "cameras:\n" + "".join(f"  - {{id: {cam}, source: \"{url}\"}}\n" for cam, url in urls.items())
    )
    return path


async def _record(settings: list[Any]) -> None:
    """Both recorders from the same cameras: a run, the recorders stopped for 2 s, another run."""
    for wanted in (4, 3):
        configs: list[CameraConfig] = settings[0].cameras
        cams = {c.id: Camera(c, settings[0].camera_health(c), 512, SystemClock()) for c in configs}
        async with contextlib.AsyncExitStack() as stack:
            runs = [await stack.enter_async_context(recording(s, cams)) for s in settings]
            tasks = [asyncio.create_task(c.run()) for c in cams.values()]
            try:
                await wait_for(lambda runs=runs, wanted=wanted, cams=cams: all(  # type: ignore[misc]
                    sum(e.kind == RecordingEventKind.SEGMENT_SEALED and e.camera == cam for e in r.sink.events)
                    >= wanted for r in runs for cam in cams
                ), 40)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        if wanted == 4:
            await asyncio.sleep(2)  # the outage itself: the recorder is down this long


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Recorded]:
    root = tmp_path_factory.mktemp("export")
    server = CameraServer({"live": "ball", "gate": "ball"})
    server.start()
    pg_copy: Iterator[str] | None = None
    try:
        lite_url = f"sqlite+aiosqlite:///{root / 'lite' / 'pantau.db'}"
        (root / "lite").mkdir()
        upgrade(lite_url)
        urls = {"cam1": server.url("live"), "cam2": server.url("gate")}
        settings = [settings_for(root / "lite" / "rec", lite_url, urls)]
        try:
            pg_copy = _copy_of(request.getfixturevalue("pg_template"))
            (root / "pg").mkdir()
            settings.append(settings_for(root / "pg" / "rec", next(pg_copy), urls))
        except pytest.skip.Exception:
            pass
        asyncio.run(_record(settings))
        stores = []
        for s in settings:
            segs, gaps = asyncio.run(rows(s.database_url))
            mine = [seg for seg in segs if seg.camera_id == "cam1"]
            outage = [g for g in gaps if g.camera_id == "cam1"]
            assert len(mine) >= 6 and len(outage) == 1, (segs, gaps)
            base = s.storage.path.parent
            stores.append(Store(_config(base, s.storage.path, s.database_url, urls), s.storage.path,
                                s.database_url, mine, outage[0].start, [seg for seg in segs if seg not in mine]))
        yield Recorded(stores[0], stores[1] if len(stores) > 1 else None)
    finally:
        server.stop()
        if pg_copy is not None:
            next(pg_copy, None)


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def pantau(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def export(capsys: pytest.CaptureFixture[str], store: Store, out: Path, start: datetime, end: datetime,
           *extra: str) -> tuple[int, str, str]:
    return pantau(capsys, "--config", str(store.config), "export", "--camera", "cam1", "--start", iso(start),
                  "--end", iso(end), "--out", str(out), "--reason", "police request", "--case", "LP/123/XI/2026",
                  "--by", "officer-budi", *extra)


def before_gap(store: Store) -> list[Segment]:
    return [s for s in store.segments if s.end <= store.gap_start + timedelta(milliseconds=1)]


@pytest.fixture(scope="module")
def bundle(recorded: Recorded, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Segment]]:
    """A bundle of cam1 before the outage, from inside its first segment to inside its last full one."""
    store = recorded.sqlite
    segs = before_gap(store)
    # The last segment before the outage may be short (sealed at shutdown): cut into the one before.
    start, end = segs[0].start + timedelta(seconds=0.5), segs[-2].end - timedelta(seconds=0.5)
    out = tmp_path_factory.mktemp("bundle") / "evidence.zip"
    code = main(["--config", str(store.config), "export", "--camera", "cam1", "--start", iso(start), "--end",
                 iso(end), "--out", str(out), "--reason", "police request", "--by", "officer-budi"])
    assert code == 0
    overlapping = [s for s in segs if s.end > start and s.start < end]
    assert len(overlapping) >= 3
    return out, overlapping


def verify(capsys: pytest.CaptureFixture[str], path: Path, *extra: str) -> tuple[int, str]:
    code, out, _ = pantau(capsys, "verify-bundle", str(path), *extra)
    return code, out


def rewrite(src: Path, dst: Path, change: Callable[[dict[str, bytes]], None]) -> Path:
    """A copy of a bundle with its members changed by `change` (name -> bytes)."""
    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    change(members)
    with zipfile.ZipFile(dst, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return dst


def test_export_verifies_and_holds_the_original_files(
    recorded: Recorded, bundle: tuple[Path, list[Segment]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, segs = bundle
    code, out = verify(capsys, path)
    assert code == 0 and out.startswith("bundle OK:"), out
    store = recorded.sqlite
    with zipfile.ZipFile(path) as zf:
        doc = json.loads(zf.read("manifest.json"))
        listed = doc["cameras"][0]["segments"]
        # Every segment overlapping the window, untouched: the bytes on disk.
        assert [s["sha256"] for s in listed] == [s.sha256 for s in segs]
        for seg in segs:
            assert zf.read(f"segments/{seg.path}") == (store.storage / seg.path).read_bytes()
        entry = json.loads(zf.read("log/entry.json"))
        readme = zf.read("README.txt").decode()
        sums = zf.read("SHA256SUMS").decode()
    assert doc["exported_by"] == "officer-budi" and doc["reason"] == "police request"
    assert doc["gateway"]["version"] and doc["cameras"][0]["gaps"] == []
    assert listed[1]["prev_sha256"] == listed[0]["sha256"] and listed[0]["width"] == 640
    payload = json.loads(entry["payload"])
    manifest_sha = hashlib.sha256(zipfile.ZipFile(path).read("manifest.json")).hexdigest()
    assert payload["action"] == "export" and payload["actor"] == "officer-budi"
    # The name came from --by: the entry says so, beside the OS user who ran the command.
    assert payload["details"]["by_declared"] == "cli" and payload["details"]["os_user"]
    assert payload["details"]["manifest_sha256"] == manifest_sha and payload["reason"] == "police request"
    assert manifest_sha in readme and "pantau verify-bundle" in readme and "sha256sum -c SHA256SUMS" in readme
    assert sums.count("\n") == len(segs)
    # The export is in the log, and the log still verifies.
    code, out, _ = pantau(capsys, "--config", str(store.config), "verify-log")
    assert code == 0 and "access log OK" in out, out
    # The published key (as `pantau log-key` prints it) pins the bundled one.
    code, key_text, _ = pantau(capsys, "--config", str(store.config), "log-key")
    key = path.with_name("published.pub")
    key.write_text(key_text)
    code, out = verify(capsys, path, "--public-key", str(key))
    assert code == 0 and "(trusted key)" in out, out


def test_by_hand_recipe_in_the_readme_works(bundle: tuple[Path, list[Segment]], tmp_path: Path) -> None:
    """The README's steps without Pantau: sha256sum, the stdlib proof script, openssl."""
    path, _ = bundle
    with zipfile.ZipFile(path) as zf:
        zf.extractall(tmp_path)
        readme = zf.read("README.txt").decode()
    run = {"cwd": tmp_path, "capture_output": True, "text": True, "timeout": 30}
    assert subprocess.run(["sha256sum", "-c", "SHA256SUMS"], **run).returncode == 0  # type: ignore[call-overload]
    script = readme.split("from the unpacked folder:\n\n", 1)[1].split("\n5.", 1)[0]
    script = "\n".join(line[4:] for line in script.splitlines())
    result = subprocess.run([sys.executable, "-c", script], **run)  # type: ignore[call-overload]
    assert result.stdout.strip() == "inclusion OK", result
    key = (tmp_path / "log" / "public-key.txt").read_text()
    (tmp_path / "key.pem").write_text(key[key.index("-----BEGIN"):])
    steps = [line.strip() for line in readme.split("key as PEM in key.pem:", 1)[1].splitlines()
             if line.strip().startswith(("sed ", "tail ", "openssl "))]
    assert len(steps) == 3
    result = subprocess.run(" && ".join(steps), shell=True, **run)  # type: ignore[call-overload]
    assert result.returncode == 0 and "Signature Verified Successfully" in result.stdout, result


def _flip_segment(members: dict[str, bytes]) -> None:
    name = sorted(n for n in members if n.startswith("segments/"))[1]
    data = bytearray(members[name])
    data[len(data) // 2] ^= 1
    members[name] = bytes(data)


def _edit_manifest(members: dict[str, bytes]) -> None:
    doc = json.loads(members["manifest.json"])
    doc["reason"] = "something else"
    members["manifest.json"] = json.dumps(doc).encode()


def _drop_middle(members: dict[str, bytes]) -> None:
    doc = json.loads(members["manifest.json"])
    segs = doc["cameras"][0]["segments"]
    gone = segs.pop(len(segs) // 2)
    del members[gone["path"]]
    members["manifest.json"] = json.dumps(doc).encode()
    members["SHA256SUMS"] = "".join(f"{s['sha256']}  {s['path']}\n" for s in segs).encode()


def _drop_file_only(members: dict[str, bytes]) -> None:
    del members[sorted(n for n in members if n.startswith("segments/"))[1]]


@pytest.mark.parametrize(("change", "named"), [
    (_flip_segment, "does not match the manifest"),
    (_edit_manifest, "the manifest's sha256"),
    (_drop_middle, "chain broken"),
    (_drop_file_only, "is in the manifest but not in the bundle"),
])
def test_tampering_is_named(
    bundle: tuple[Path, list[Segment]], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    change: Callable[[dict[str, bytes]], None], named: str,
) -> None:
    changed = rewrite(bundle[0], tmp_path / "changed.zip", change)
    code, out = verify(capsys, changed)
    assert code == 1 and out.startswith("bundle INVALID: ") and named in out.splitlines()[0], out


def test_entry_and_proof_of_another_export_do_not_cover_this_manifest(
    recorded: Recorded, bundle: tuple[Path, list[Segment]], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A genuine, signed, included log entry of a different export is refused for this manifest."""
    store = recorded.sqlite
    segs = bundle[1]
    other = tmp_path / "other.zip"
    code, _, err = export(capsys, store, other, segs[0].start, segs[1].end, "--quiet")
    assert code == 0, err
    with zipfile.ZipFile(other) as zf:
        log_files = {n: zf.read(n) for n in zf.namelist() if n.startswith("log/")}
    assert verify(capsys, other)[0] == 0
    mixed = rewrite(bundle[0], tmp_path / "mixed.zip", lambda m: m.update(log_files))
    code, out = verify(capsys, mixed)
    assert code == 1 and "the manifest's sha256" in out.splitlines()[0] and "another export" in out, out
    # And the proof of another entry against this entry's checkpoint: the path does not reach the root.
    with zipfile.ZipFile(bundle[0]) as zf:
        mine = json.loads(zf.read("log/inclusion-proof.json"))
    with zipfile.ZipFile(other) as zf:
        theirs = json.loads(zf.read("log/inclusion-proof.json"))
    assert theirs["leaf_index"] != mine["leaf_index"]

    def swap_path(m: dict[str, bytes]) -> None:
        m["log/inclusion-proof.json"] = json.dumps({**mine, "hashes": theirs["hashes"]}).encode()

    code, out = verify(capsys, rewrite(bundle[0], tmp_path / "path.zip", swap_path))
    assert code == 1 and "inclusion proof of log entry" in out.splitlines()[0], out


def test_checkpoint_or_key_of_another_signer_fails(
    recorded: Recorded, bundle: tuple[Path, list[Segment]], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    with zipfile.ZipFile(bundle[0]) as zf:
        note = zf.read("log/checkpoint.txt").decode()
    origin = note.split("\n", 1)[0]
    forger = Ed25519PrivateKey.generate()
    text = note.rpartition("\n\n")[0] + "\n"
    assert Checkpoint.parse(text).origin == origin
    forged = NoteSigner(origin, forger).sign(text)

    def resign(m: dict[str, bytes]) -> None:
        m["log/checkpoint.txt"] = forged.encode()

    code, out = verify(capsys, rewrite(bundle[0], tmp_path / "resigned.zip", resign))
    assert code == 1 and "the checkpoint does not verify with the bundled key" in out.splitlines()[0], out
    # A forger who also swaps the bundled key passes the bundle's own check, but never a pinned key.
    forged_key = public_key_text(forger, origin)

    def resign_and_rekey(m: dict[str, bytes]) -> None:
        resign(m)
        m["log/public-key.txt"] = forged_key.encode()

    rekeyed = rewrite(bundle[0], tmp_path / "rekeyed.zip", resign_and_rekey)
    assert verify(capsys, rekeyed)[0] == 0
    code, key_text, _ = pantau(capsys, "--config", str(recorded.sqlite.config), "log-key")
    published = tmp_path / "published.pub"
    published.write_text(key_text)
    code, out = verify(capsys, rekeyed, "--public-key", str(published))
    assert code == 1 and "is not the trusted key" in out.splitlines()[0], out
    # The genuine bundle against a wrong pinned key (as PEM only) fails too.
    wrong = tmp_path / "wrong.pem"
    wrong.write_text(forged_key.split("\n", 1)[1])
    code, out = verify(capsys, bundle[0], "--public-key", str(wrong))
    assert code == 1 and "is not the trusted key" in out.splitlines()[0], out


def test_window_across_the_outage_lists_the_gap(
    recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = recorded.sqlite
    segs = store.segments
    out = tmp_path / "gap.zip"
    code, stdout, err = export(capsys, store, out, segs[0].start, segs[-1].end + timedelta(seconds=3), "--quiet")
    assert code == 0, err
    assert "2 gap(s)" in stdout
    # --quiet: no progress bar; only a first-use log line (whichever test runs first creates the key).
    assert [line for line in err.splitlines() if "created access-log signing key" not in line] == []
    doc = json.loads(zipfile.ZipFile(out).read("manifest.json"))
    gaps = doc["cameras"][0]["gaps"]
    assert gaps[0]["reason"] == "recorder was not running" and gaps[0]["start"] == iso(store.gap_start)
    assert gaps[1]["reason"] == "no recording" and gaps[1]["end"] == doc["window"]["end"]
    # The chain runs across the outage: the first segment after it links to the last before it.
    listed = doc["cameras"][0]["segments"]
    assert len(listed) == len(segs)
    code, text = verify(capsys, out)
    assert code == 0, text


def test_corrupt_segment_on_disk_aborts_with_no_bundle(
    recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = recorded.sqlite
    # A copy of the whole installation (index, files, key), so the shared recording stays intact.
    shutil.copytree(source.config.parent, tmp_path / "site", symlinks=True)
    base = tmp_path / "site"
    config = base / "config.yaml"
    config.write_text(config.read_text().replace(str(source.config.parent), str(base)))
    victim = source.segments[2]
    flip_byte(base / "rec" / victim.path, victim.bytes // 2)
    store = Store(config, base / "rec", source.db_url.replace(str(source.config.parent), str(base)),
                  source.segments, source.gap_start, source.others)
    out = tmp_path / "evidence.zip"
    code, _, err = export(capsys, store, out, source.segments[0].start, source.segments[4].end)
    assert code == 1
    assert f"segment {victim.path} (camera cam1) does not match its index" in err and "no bundle" in err, err
    assert not out.exists() and [p.name for p in tmp_path.iterdir() if p.name != "site"] == []
    # The failed attempt is logged, and the log verifies.
    code, stdout, _ = pantau(capsys, "--config", str(config), "verify-log")
    assert code == 0, stdout
    # A window without that segment still exports.
    code, _, err = export(capsys, store, out, source.segments[0].start, victim.start - timedelta(seconds=0.1))
    assert code == 0, err


def test_several_cameras_in_one_bundle(
    recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = recorded.sqlite
    start, end = store.segments[1].start, store.segments[3].end
    out = tmp_path / "two.zip"
    code, stdout, err = export(capsys, store, out, start, end, "--camera", "cam2", "--quiet")
    assert code == 0, err
    doc = json.loads(zipfile.ZipFile(out).read("manifest.json"))
    assert [c["id"] for c in doc["cameras"]] == ["cam1", "cam2"]
    by_cam = {c["id"]: [s["sha256"] for s in c["segments"]] for c in doc["cameras"]}
    assert by_cam["cam2"] == [s.sha256 for s in store.others if s.end > start and s.start < end]
    assert by_cam["cam1"] == [s.sha256 for s in store.segments if s.end > start and s.start < end]
    entry = json.loads(json.loads(zipfile.ZipFile(out).read("log/entry.json"))["payload"])
    assert entry["details"]["cameras"] == "cam1,cam2" and "camera" not in entry
    code, text = verify(capsys, out)
    assert code == 0 and "of cam1, cam2" in text, text

    # Each camera's chain is checked on its own: cam2's segments moved under cam1 break it.
    def move(m: dict[str, bytes]) -> None:
        d = json.loads(m["manifest.json"])
        d["cameras"][0]["segments"].insert(1, d["cameras"][1]["segments"].pop(0))
        m["manifest.json"] = json.dumps(d).encode()

    code, text = verify(capsys, rewrite(out, tmp_path / "moved.zip", move))
    assert code == 1 and "chain broken" in text, text


def test_postgresql_export_verifies(recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if recorded.pg is None:
        pytest.skip("PostgreSQL not reachable")
    store = recorded.pg
    segs = before_gap(store)
    out = tmp_path / "pg.zip"
    code, _, err = export(capsys, store, out, segs[0].start, segs[-1].end)
    assert code == 0, err
    assert verify(capsys, out)[0] == 0
    with zipfile.ZipFile(out) as zf:
        assert [zf.read(f"segments/{s.path}") == (store.storage / s.path).read_bytes() for s in segs] == [True] * len(segs)
    code, text, _ = pantau(capsys, "--config", str(store.config), "verify-log")
    assert code == 0, text


def test_usage_errors_and_refusals(recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = recorded.sqlite
    segs = store.segments
    with pytest.raises(SystemExit) as exc:
        main(["--config", str(store.config), "export", "--camera", "cam1", "--start", "yesterday", "--end",
              iso(segs[-1].end), "--out", str(tmp_path / "x.zip")])
    assert exc.value.code == 2
    code, _, err = export(capsys, store, tmp_path / "x.zip", segs[1].end, segs[0].start)
    assert code == 2 and "--end must be after --start" in err
    code, _, err = pantau(capsys, "--config", str(store.config), "export", "--camera", "nope", "--start",
                          iso(segs[0].start), "--end", iso(segs[1].end), "--out", str(tmp_path / "x.zip"))
    assert code == 1 and "'nope' is not configured" in err
    code, _, err = export(capsys, store, tmp_path / "x.zip", segs[0].start - timedelta(hours=2),
                          segs[0].start - timedelta(hours=1))
    assert code == 1 and "nothing to export" in err
    existing = tmp_path / "exists.zip"
    existing.write_bytes(b"keep")
    code, _, err = export(capsys, store, existing, segs[0].start, segs[1].end)
    assert code == 1 and "never overwritten" in err and existing.read_bytes() == b"keep"
    assert not list(tmp_path.glob(".*partial"))
    not_zip = tmp_path / "not.zip"
    not_zip.write_bytes(b"hello")
    assert verify(capsys, not_zip)[0] == 1


def test_progress_bar_on_a_terminal_only(recorded: Recorded, tmp_path: Path) -> None:
    store = recorded.sqlite
    segs = before_gap(store)

    def run(out: Path, *extra: str) -> str:
        code, shown = on_terminal(store.config, "export", "--camera", "cam1", "--start", iso(segs[0].start),
                                  "--end", iso(segs[-1].end), "--out", str(out), *extra, cwd=tmp_path)
        assert code == 0
        return shown

    assert "copying segments" in run(tmp_path / "tty.zip")
    assert "copying segments" not in run(tmp_path / "quiet.zip", "--quiet")


def test_an_export_places_an_evidence_hold_unless_told_not_to(
    recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    store = recorded.sqlite
    database = store.db_url.split(":///", 1)[1]

    def holds() -> list[tuple[str, str, str]]:
        with contextlib.closing(sqlite3.connect(database)) as conn:
            return list(conn.execute("SELECT camera_id, reason, owner FROM evidence_holds WHERE released_at IS NULL ORDER BY id"))

    before = holds()
    segs = before_gap(store)
    code, stdout, err = export(capsys, store, tmp_path / "held.zip", segs[0].start, segs[-1].end, "--quiet")
    assert code == 0, err
    assert "evidence hold" in stdout
    added = holds()[len(before):]
    assert added == [("cam1", "evidence export LP/123/XI/2026: police request", "officer-budi")]
    code, stdout, err = export(capsys, store, tmp_path / "unheld.zip", segs[0].start, segs[-1].end,
                               "--quiet", "--no-hold")
    assert code == 0, err
    assert "evidence hold" not in stdout and len(holds()) == len(before) + 1
    # The hold is in the access log, and the log still verifies.
    code, out, _ = pantau(capsys, "--config", str(store.config), "verify-log")
    assert code == 0, out
