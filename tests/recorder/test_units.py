"""Pure pieces of the recorder: names, metadata, timestamp repair, fragment boundaries, hashing."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recorder.segment import SegmentMeta
from recorder.segmentfile import HashingFile, complete_prefix, hash_file
from recorder.store import SegmentStore, parse_name
from recorder.writer import _Timeline, seconds
from streams.packet import MediaPacket

T = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)


def pkt(pts: int | None, dts: int | None, key: bool = False) -> MediaPacket:
    return MediaPacket(0, b"x", pts, dts, key, 0.0, 0.0)


def box(kind: bytes, payload: bytes) -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


def test_names_carry_camera_and_utc_start(tmp_path: Path) -> None:
    store = SegmentStore(tmp_path)
    final = store.final_path("gate-1", T)
    partial = store.partial_path("gate-1", T)
    assert final.relative_to(tmp_path).as_posix() == "gate-1/2026/05/04/gate-1_20260504T030201.123456Z.mp4"
    assert parse_name(final.name) == ("gate-1", T)
    assert parse_name(partial.name) == ("gate-1", T)
    assert parse_name("notes.txt") is None and parse_name("Gate_20260504T030201.123456Z.mp4") is None


def test_segment_meta_round_trip() -> None:
    meta = SegmentMeta("cam", T, "ab" * 32, 0, Fraction(1, 90000), 123456789,
                       ((0, "video", "h264", Fraction(1, 90000)), (1, "audio", "aac", Fraction(1, 8000))))
    assert SegmentMeta.from_json(meta.to_json()) == meta
    assert SegmentMeta.from_json('{"tag": "other"}') is None
    assert SegmentMeta.from_json("not json") is None


@pytest.mark.parametrize(
    ("packets", "expected"),
    [
        ([pkt(10, 10), pkt(20, 20)], [(10, 10), (20, 20)]),
        # non-monotonic dts is pushed forward, pts never before dts
        ([pkt(10, 10), pkt(9, 9)], [(10, 10), (11, 11)]),
        # missing pts takes the dts; missing dts stays <= pts
        ([pkt(10, 10), pkt(None, 12), pkt(30, None)], [(10, 10), (12, 12), (30, 13)]),
        # untimed first packets are held and stamped just before the first timed one
        ([pkt(None, None, True), pkt(None, None), pkt(100, 100)], [(98, 98), (99, 99), (100, 100)]),
        # untimed later packets follow the last one
        ([pkt(5, 5), pkt(None, None)], [(5, 5), (6, 6)]),
    ],
)
def test_timeline_repairs_timestamps(packets: list[MediaPacket], expected: list[tuple[int, int]]) -> None:
    line = _Timeline()
    out = [(pts, dts) for p in packets for _, pts, dts in line.fix(p)]
    assert out == expected


def test_complete_prefix_ends_after_the_last_whole_fragment(tmp_path: Path) -> None:
    head = box(b"ftyp", b"iso5" * 3) + box(b"moov", b"\0" * 40)
    frag1 = box(b"moof", b"\1" * 20) + box(b"mdat", b"\2" * 100)
    frag2 = box(b"moof", b"\3" * 20) + box(b"mdat", b"\4" * 100)
    path = tmp_path / "x.part"
    for data, expected in [
        (head + frag1 + frag2, len(head + frag1 + frag2)),
        (head + frag1 + frag2[:50], len(head + frag1)),  # torn mdat
        (head + frag1 + frag2[:28], len(head + frag1)),  # moof without mdat
        (head, len(head)),
        (head[:30], 0),  # no whole moov: nothing playable
    ]:
        path.write_bytes(data)
        assert complete_prefix(path) == expected


def test_hashing_file_hashes_exactly_what_reached_the_file(tmp_path: Path) -> None:
    path = tmp_path / "seg.part"
    sink = HashingFile(path)
    assert not sink.seekable() and not hasattr(sink, "seek")  # FFmpeg gets a forward-only AVIO
    chunks: list[bytes | bytearray | memoryview] = [b"a" * 1000, memoryview(b"b" * 70000), bytearray(b"c")]
    for c in chunks:
        sink.write(c)
    digest = sink.finish()
    assert digest == hash_file(path)[0] == hashlib.sha256(b"".join(bytes(c) for c in chunks)).hexdigest()
    with pytest.raises(FileExistsError):
        HashingFile(path)  # a temporary name is never reused


@given(st.integers(-(2**62), 2**62), st.sampled_from([Fraction(1, 90_000), Fraction(1, 48_000), Fraction(1001, 30_000),
                                                      Fraction(1, 1000), Fraction(3, 7)]))
def test_seconds_is_the_float_of_the_exact_fraction(ticks: int, time_base: Fraction) -> None:
    assert seconds(ticks, time_base) == float(ticks * time_base)
