"""recorder.thumbnails on segments the real recorder wrote, sealed and indexed (H.264 and H.265,
played into an idle camera's hub faster than real time: tests/fastrecording.py).

The playback reader is the oracle for times: every thumbnail's time is the UTC time the reader
gives that keyframe, and it is the last keyframe at or before the instant it stands for.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import pytest_asyncio

from core.db import make_engine, make_sessionmaker
from recorder import thumbnails as thumbnails_module
from recorder.fragments import FragmentError, SegmentBuffer
from recorder.index import SegmentIndex
from recorder.models import Segment
from recorder.reader import load_segment
from recorder.store import SegmentStore
from recorder.thumbcache import ThumbnailCache
from recorder.thumbnails import MAX_COUNT, Thumbnail, Thumbnails, instants
from streams.state import CameraState
from tests.fastrecording import encode, feed, idle_camera
from tests.recorder.helpers import recording, rows, settings_for, wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

SECONDS = 40  # 4 segments of 10 s, a keyframe every second
SEGMENT_S = 10


@dataclass
class Recorded:
    codec: str
    root: Path
    db_url: str
    segments: list[Segment]
    start: datetime
    end: datetime
    #: Per segment id: the UTC times (POSIX seconds) the playback reader gives its video keyframes.
    keyframes: dict[int, list[float]]

    def thumbnails(self, cache: ThumbnailCache) -> Thumbnails:
        engine = make_engine(self.db_url)
        self._engines.append(engine)
        return Thumbnails(SegmentIndex(make_sessionmaker(engine), _NoClock()), SegmentStore(self.root / "rec"), cache)

    def __post_init__(self) -> None:
        self._engines: list[Any] = []


class _NoClock:
    def now(self) -> datetime:
        raise AssertionError("thumbnails never write the index")

    def monotonic(self) -> float:
        return 0.0


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["h264", "hevc"])
async def rec(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Recorded]:
    codec: str = request.param
    root = tmp_path_factory.mktemp(f"thumbs-{codec}")
    db_url = f"sqlite+aiosqlite:///{root / 'index.db'}"
    from gateway.migrations import upgrade

    await asyncio.to_thread(upgrade, db_url)
    settings = settings_for(root / "rec", db_url, {}, segment_s=SEGMENT_S, min_free_bytes=0)
    settings = settings.model_copy(update={"cameras": [idle_camera("cam")]})
    stream = await asyncio.to_thread(encode, SECONDS, 10, (320, 180), 1.0, False, codec)
    async with recording(settings) as running:
        cam = running.cameras["cam"]

        # The recorder subscribes after reading its index tail: a packet fed before is lost.
        await wait_for(lambda: cam.status.state is CameraState.OFFLINE
                       and any(s.name == "recorder-cam" for s in cam.hub._subscribers), 15, 0.05)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        end = await feed(cam.hub, stream, start)

        async def sealed() -> list[Segment]:
            while True:
                segs, _ = await rows(db_url)
                if segs and abs((segs[-1].end - end).total_seconds()) < 0.2:
                    return segs
                await asyncio.sleep(0.1)

        segments = await asyncio.wait_for(sealed(), 30)
    assert len(segments) >= 3, [(s.start, s.end) for s in segments]
    assert {s.codec for s in segments} == {codec}
    store = SegmentStore(root / "rec")
    keyframes = {}
    for seg in segments:
        loaded = load_segment(store.absolute(seg.path).read_bytes(), seg.start)
        video = {s.index for s in loaded.streams if s.kind == "video"}
        keyframes[seg.id] = [p.wallclock for p in loaded.packets if p.is_keyframe and p.stream in video]
        assert len(keyframes[seg.id]) >= 5, "several keyframes per segment"
    recorded = Recorded(codec, root, db_url, segments, start, end, keyframes)
    yield recorded
    for engine in recorded._engines:
        await engine.dispose()


def fingerprint(rec: Recorded) -> dict[str, tuple[str, int]]:
    """Every segment file's SHA-256 and mode: what a thumbnail must never change."""
    store = SegmentStore(rec.root / "rec")
    out = {}
    for seg in rec.segments:
        path = store.absolute(seg.path)
        out[seg.path] = (hashlib.sha256(path.read_bytes()).hexdigest(), stat.S_IMODE(path.stat().st_mode))
    return out


def check_thumbnails(rec: Recorded, made: list[Thumbnail], start: datetime, end: datetime, count: int) -> None:
    """Every JPEG decodes at 160 px across; every time is a keyframe time, the last at or before an
    instant of the request; in time order, no keyframe twice."""
    assert made, "no thumbnails"
    by_id = {s.id: s for s in rec.segments}
    expected: list[float] = []
    points = instants(start, end, count)
    half = (end - start) / count / 2
    for at in points:
        seg = next((s for s in reversed(rec.segments) if s.start <= at < s.end), None)
        if seg is None:
            # A slot whose middle is not recorded: the recorded moment nearest it within the slot.
            moments = [(m, s) for s in rec.segments for m in (s.start, s.end - timedelta(microseconds=1))
                       if at - half <= m < at + half]
            if not moments:
                continue
            at, seg = min(moments, key=lambda ms: abs(ms[0] - at))
        keys = [k for k in rec.keyframes[seg.id] if k <= at.timestamp()]
        expected.append(keys[-1] if keys else rec.keyframes[seg.id][0])
    expected = list(dict.fromkeys(expected))
    assert [round(t.at.timestamp(), 6) for t in made] == [round(e, 6) for e in expected]
    for thumb in made:
        picture = cv2.imdecode(np.frombuffer(thumb.jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert picture is not None, "a JPEG that does not decode"
        assert picture.shape == (90, 160, 3)
        assert picture.std() > 5, "a flat picture: the keyframe was not really decoded"
        assert by_id[thumb.segment_id].start <= thumb.at < by_id[thumb.segment_id].end


async def test_thumbnails_are_decodable_keyframes_at_their_times_and_cached(rec: Recorded, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    before = fingerprint(rec)
    thumbs = rec.thumbnails(ThumbnailCache(tmp_path / "cache", 64 * 1024 * 1024))
    start, end = rec.start, rec.end
    made = await thumbs.make("cam", start, end, 12)
    check_thumbnails(rec, made.thumbnails, start, end, 12)
    assert made.decoded == len(made.thumbnails) == 12 and not made.skipped

    # The second request is answered from the cache: no segment is read, nothing decoded.
    def no_reading(*_: object) -> memoryview:
        raise AssertionError("a cached thumbnail read its segment")

    monkeypatch.setattr(SegmentBuffer, "read_verified", no_reading)
    again = await thumbs.make("cam", start, end, 12)
    assert again.decoded == 0
    assert [(t.at, t.segment_id, t.jpeg) for t in again.thumbnails] == \
        [(t.at, t.segment_id, t.jpeg) for t in made.thumbnails]
    monkeypatch.undo()

    # More instants than keyframes: each keyframe once; those already made come from the cache.
    dense = await thumbs.make("cam", start, end, MAX_COUNT)
    check_thumbnails(rec, dense.thumbnails, start, end, MAX_COUNT)
    assert len(dense.thumbnails) == sum(len(k) for k in rec.keyframes.values())
    assert dense.decoded == len(dense.thumbnails) - 12
    # A window reaching past the recording: instants with no segment get no picture.
    wide = await thumbs.make("cam", start - timedelta(seconds=SECONDS), end + timedelta(seconds=SECONDS), 12)
    check_thumbnails(rec, wide.thumbnails, start - timedelta(seconds=SECONDS), end + timedelta(seconds=SECONDS), 12)
    assert len(wide.thumbnails) == 4
    # A short recording in a wide view: the slot whose middle falls after it still shows its last
    # keyframe; the slot wholly before it shows nothing.
    sparse_start, sparse_end = start - timedelta(seconds=100), end + timedelta(seconds=60)
    sparse = await thumbs.make("cam", sparse_start, sparse_end, 2)
    check_thumbnails(rec, sparse.thumbnails, sparse_start, sparse_end, 2)
    last_key = max(k for keys in rec.keyframes.values() for k in keys)
    assert [round(t.at.timestamp(), 6) for t in sparse.thumbnails] == [round(last_key, 6)]
    assert fingerprint(rec) == before, "the recordings changed"
    # The cache lives where it was told to, away from the recordings.
    assert not list((rec.root / "rec").rglob("*.jpg"))


async def test_the_budget_evicts_the_least_recently_used(rec: Recorded, tmp_path: Path) -> None:
    probe = rec.thumbnails(ThumbnailCache(tmp_path / "probe", 64 * 1024 * 1024))
    await probe.make("cam", rec.start, rec.end, 8)
    files = [p for p in (tmp_path / "probe").rglob("*") if p.is_file()]
    lists = sum(p.stat().st_size for p in files if p.name.endswith(".keys.json"))
    size = max(p.stat().st_size for p in files if p.suffix == ".jpg")
    # Room for the four segments' keyframe lists and three and a half pictures.
    budget = lists + 3 * size + size // 2
    cache = ThumbnailCache(tmp_path / "small", budget)
    thumbs = rec.thumbnails(cache)
    made = await thumbs.make("cam", rec.start, rec.end, 8)
    assert len(made.thumbnails) == 8 and made.decoded == 8
    on_disk = [p for p in (tmp_path / "small").rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in on_disk) == cache.size <= budget
    assert cache.evicted >= 4
    assert 1 <= len([p for p in on_disk if p.suffix == ".jpg"]) <= 4
    # The newest survive; asking again for all of them decodes the evicted ones again.
    again = await thumbs.make("cam", rec.start, rec.end, 8)
    assert 5 <= again.decoded <= 8
    assert [t.jpeg for t in again.thumbnails] == [t.jpeg for t in made.thumbnails]
    # A new cache object over the same directory (a restart) finds what is there, oldest use first.
    reopened = ThumbnailCache(tmp_path / "small", budget)
    assert reopened.size == cache.size


def _tamper(original: bytes, where: str) -> bytes:
    changed = bytearray(original)
    if where == "picture":
        changed[len(changed) // 2] ^= 0xFF
    elif where == "fragment header":  # the second fragment's tfdt: its keyframe's time
        tfdt = original.index(b"tfdt", original.index(b"moof", original.index(b"moof") + 8))
        changed[tfdt + 12] ^= 0x01
    elif where == "codec parameters":
        changed[original.index(b"avcC") + 12] ^= 0xFF
    else:  # "appended"
        changed += b"\0"
    return bytes(changed)


@pytest.mark.parametrize("where", ["picture", "fragment header", "codec parameters", "appended"])
async def test_a_tampered_segment_gives_no_thumbnail(rec: Recorded, tmp_path: Path, where: str) -> None:
    if rec.codec != "h264":
        pytest.skip("the verification does not depend on the codec")
    store = SegmentStore(rec.root / "rec")
    victim = rec.segments[1]
    path = store.absolute(victim.path)
    original = path.read_bytes()
    # Its keyframe list is cached from before the change: the pictures still need the segment's bytes.
    warm = rec.thumbnails(ThumbnailCache(tmp_path / "warm", 64 * 1024 * 1024))
    assert len((await warm.make("cam", rec.start, rec.end, 8)).thumbnails) == 8
    for jpeg in warm.cache.root.rglob("*.jpg"):
        jpeg.unlink()
    assert [p.name for p in warm.cache.root.rglob(f"{victim.id}-*")] == [f"{victim.id}-{victim.sha256[:16]}.keys.json"]
    os.chmod(path, 0o644)
    try:
        path.write_bytes(_tamper(original, where))
        cold = rec.thumbnails(ThumbnailCache(tmp_path / "cold", 64 * 1024 * 1024))
        made = await cold.make("cam", rec.start, rec.end, 8)
        again = await rec.thumbnails(ThumbnailCache(tmp_path / "warm", 64 * 1024 * 1024)).make(
            "cam", rec.start, rec.end, 8)
    finally:
        path.write_bytes(original)
        os.chmod(path, 0o444)
    for answer in (made, again):
        assert answer.skipped == {victim.id: "failed verification"}
        assert answer.thumbnails and all(t.segment_id != victim.id for t in answer.thumbnails)
    assert not [p for p in (tmp_path / "cold").rglob(f"{victim.id}-*")]
    assert not [p for p in (tmp_path / "warm").rglob(f"{victim.id}-*.jpg")]


async def test_a_segment_the_walk_does_not_understand_is_demuxed_instead(
        rec: Recorded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    walked = await rec.thumbnails(ThumbnailCache(tmp_path / "walked", 64 * 1024 * 1024)).make(
        "cam", rec.start, rec.end, 12)

    def not_understood(_: memoryview) -> object:
        raise FragmentError("a box this reader does not know")

    monkeypatch.setattr(thumbnails_module, "scan", not_understood)
    demuxed = await rec.thumbnails(ThumbnailCache(tmp_path / "demuxed", 64 * 1024 * 1024)).make(
        "cam", rec.start, rec.end, 12)
    assert demuxed.decoded == walked.decoded == 12 and not demuxed.skipped
    assert [(t.at, t.segment_id, t.jpeg) for t in demuxed.thumbnails] == \
        [(t.at, t.segment_id, t.jpeg) for t in walked.thumbnails]
