"""Pure pieces of the recorder: names, metadata, fragment boundaries, hashing."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import pytest

from recorder.segment import SegmentMeta
from recorder.segmentfile import HashingFile, complete_prefix, hash_file
from recorder.store import SegmentStore, parse_name

T = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)


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
