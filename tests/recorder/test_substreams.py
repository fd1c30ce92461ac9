"""Cameras with a sub-stream against GStreamer test cameras, on SQLite and PostgreSQL: recording main,
sub or both (each stream its own files, hash chain and gaps), a sub-stream outage that degrades the
camera without touching the main stream's recording, and reads that default to the recorded stream."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from core.config import CameraConfig, Settings
from core.db import make_engine, make_sessionmaker
from recorder.muxer import SegmentMuxer
from recorder.reader import SegmentOpened, SegmentReader
from recorder.recovery import describe_file, salvage
from recorder.segment import SegmentMeta
from recorder.store import SegmentStore, parse_name, parse_segment_name
from streams.state import CameraState
from tests.recorder.helpers import decode_all, recording, rows, wait_for
from tests.recorder.test_muxthread import h264_packets
from tests.recorder.test_recording import verify

T = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)
QUICK: dict[str, Any] = {"backoff": {"initial_s": 0.3, "max_s": 0.6, "jitter": 0}, "stall_timeout_s": 2.0,
                         "read_timeout_s": 2.0}


def test_sub_stream_files_are_named_and_headed_as_such(tmp_path: Path) -> None:
    store = SegmentStore(tmp_path)
    main, sub = store.final_path("gate-1", T), store.final_path("gate-1", T, "sub")
    assert main.name == "gate-1_20260504T030201.123456Z.mp4"
    assert sub.name == "gate-1_20260504T030201.123456Z_sub.mp4" and sub.parent == main.parent
    assert parse_segment_name(sub.name) == ("gate-1", T, "sub")
    assert parse_segment_name(store.partial_path("gate-1", T, "sub").name) == ("gate-1", T, "sub")
    assert parse_segment_name(main.name) == ("gate-1", T, "main")
    assert parse_name(sub.name) == ("gate-1", T)
    assert parse_segment_name("gate-1_20260504T030201.123456Z_aux.mp4") is None
    meta = SegmentMeta("cam", T, None, 0, Fraction(1, 90000), 0, ((0, "video", "h264", Fraction(1, 90000)),))
    assert '"stream"' not in meta.to_json()  # main-stream headers are as they were before sub-streams
    sub_meta = SegmentMeta("cam", T, None, 0, Fraction(1, 90000), 0, meta.streams, "sub")
    assert SegmentMeta.from_json(sub_meta.to_json()) == sub_meta
    assert SegmentMeta.from_json(meta.to_json()) == meta


def test_a_sub_stream_file_left_unsealed_is_recovered_into_its_own_chain(tmp_path: Path) -> None:
    store = SegmentStore(tmp_path)
    info, packets = h264_packets(30)
    muxer = SegmentMuxer(store, "gate-1", (info,), T, "ab" * 32, packets[0], packets[0].dts or 0, "sub")
    for packet in packets:
        muxer.write(packet, packet.pts or 0, packet.dts or 0)
    partial = muxer.abandon()  # what a kill leaves behind
    assert partial.name.endswith("_sub.mp4.part")
    sealed = salvage(store, partial)
    assert sealed is not None and sealed.stream == "sub" and sealed.prev_sha256 == "ab" * 32
    assert sealed.path.endswith("_sub.mp4") and (tmp_path / sealed.path).exists()
    found = describe_file(store, tmp_path / sealed.path)
    assert found is not None and (found.stream, found.sha256) == ("sub", sealed.sha256)


def test_record_streams_other_than_main_need_a_substream() -> None:
    with pytest.raises(ValueError, match="record_streams: sub needs a substream"):
        CameraConfig(id="x", source="rtsp://127.0.0.1/a", record_streams="sub")
    both = CameraConfig(id="x", source="rtsp://127.0.0.1/a", substream="rtsp://127.0.0.1/b", record_streams="both")
    assert both.recorded_streams == ("main", "sub") and both.listed_stream == "main"


@pytest.mark.timeout(120)
async def test_main_and_sub_streams_record_apart_and_a_sub_outage_only_degrades(
    camera_server: Any, tmp_path: Path, db_url: str
) -> None:
    mains = camera_server({"both": "ball+640x360", "subonly": "smpte+640x360"})
    subs = camera_server({"both": "ball+320x180", "subonly": "smpte+320x180"})
    settings = Settings(
        storage={"path": tmp_path / "rec"}, database={"url": db_url}, recording={"segment_s": 2.0},
        cameras=[
            CameraConfig(id="both", source=mains.url("both"), substream=subs.url("both"), record_streams="both",
                         **QUICK),
            CameraConfig(id="subonly", source=mains.url("subonly"), substream=subs.url("subonly"),
                         record_streams="sub", **QUICK),
        ],
    )
    async with recording(settings) as run:
        both = run.cameras["both"]
        await wait_for(lambda: len(run.recorder.writers) == 3, 10)  # after start-up recovery
        assert set(run.recorder.writers) == {"both", "both/sub", "subonly/sub"}
        await wait_for(lambda: len(run.recorder.writers["both/sub"].segments) >= 2, 30)
        assert both.status.state is CameraState.ONLINE
        assert both.sub is not None and both.sub.video is not None
        assert (both.sub.video.width, both.sub.video.height) == (320, 180)

        # The sub-stream's camera goes away: degraded, not offline, and the main stream records on.
        subs.stop()
        await wait_for(lambda: both.status.state is CameraState.DEGRADED, 10)
        assert both.status.problems == ("substream",) and "sub-stream offline" in both.status.reason
        main_sealed = len(run.recorder.writers["both"].segments)
        await wait_for(lambda: len(run.recorder.writers["both"].segments) >= main_sealed + 1, 15)
        assert both.status.state is CameraState.DEGRADED and both.main.up
        subs.start()
        await wait_for(lambda: both.status.state is CameraState.ONLINE, 15)
        sub_sealed = len(run.recorder.writers["both/sub"].segments)
        await wait_for(lambda: len(run.recorder.writers["both/sub"].segments) >= sub_sealed + 1, 15)
        reader = run.recorder.reader
        now = datetime.now(UTC)
        # Reads name no stream: "subonly" records only its sub-stream, and that is what is read.
        opened = [item async for item in reader.read("subonly", now - timedelta(minutes=1), now)
                  if isinstance(item, SegmentOpened)]
        assert opened and all(item.path.endswith("_sub.mp4") for item in opened)
        main_read = [item async for item in reader.read("both", now - timedelta(minutes=1), now)
                     if isinstance(item, SegmentOpened)]
        assert main_read and not any(item.path.endswith("_sub.mp4") for item in main_read)

    segs, gaps = await rows(db_url)
    by_chain: dict[tuple[str, str], list[Any]] = {}
    for seg in segs:
        by_chain.setdefault((seg.camera_id, seg.stream), []).append(seg)
    assert set(by_chain) == {("both", "main"), ("both", "sub"), ("subonly", "sub")}
    for (camera, stream), chain in by_chain.items():
        assert chain[0].prev_sha256 is None, (camera, stream)  # each stream starts its own chain
        for prev, nxt in zip(chain, chain[1:], strict=False):
            assert nxt.prev_sha256 == prev.sha256 and nxt.start >= prev.end - timedelta(milliseconds=1)
        size = (640, 360) if stream == "main" else (320, 180)
        assert all((s.width, s.height) == size and s.path.endswith("_sub.mp4") == (stream == "sub")
                   for s in chain), (camera, stream)
    # The outage is a gap of each sub-stream alone; the main stream's recording has none.
    assert [(g.camera_id, g.stream) for g in gaps] == [("both", "sub"), ("subonly", "sub")]
    assert all(g.end is not None and 1.0 < (g.end - g.start).total_seconds() < 20 for g in gaps)
    assert await verify(settings) == []
    sample = by_chain[("both", "sub")][0]
    assert await asyncio.to_thread(decode_all, settings.storage.path / sample.path) >= 25
    engine = make_engine(db_url)
    try:
        reader = SegmentReader(make_sessionmaker(engine), SegmentStore(settings.storage.path))
        explicit = [item async for item in reader.read("both", sample.start, sample.end, "sub")
                    if isinstance(item, SegmentOpened)]
        assert [item.path for item in explicit] == [sample.path]
    finally:
        await engine.dispose()
