"""Where segments are cut: table-driven cases and properties of the Cutter (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recorder.cutter import Cutter, SegmentState, starts_segment
from recorder.timeline import seconds
from streams.packet import MediaPacket, StreamInfo

TB = Fraction(1, 90_000)
VIDEO = StreamInfo(0, "video", "h264", TB, None, 64, 64)
AUDIO = StreamInfo(1, "audio", "aac", Fraction(1, 8000), sample_rate=8000)
T = datetime(2026, 5, 4, 3, 0, tzinfo=UTC)


def pkt(stream: int, key: bool) -> MediaPacket:
    return MediaPacket(stream, b"x", 0, 0, key, 0.0, 0.0)


@pytest.mark.parametrize(
    ("packet", "origin", "expected"),
    [
        (pkt(0, True), VIDEO, True),
        (pkt(0, False), VIDEO, False),  # a segment never starts between keyframes
        (pkt(1, True), VIDEO, False),  # only the origin stream cuts
        (pkt(1, False), AUDIO, True),  # audio only: every packet can start a segment
        (pkt(0, True), AUDIO, False),
    ],
)
def test_starts_segment(packet: MediaPacket, origin: StreamInfo, expected: bool) -> None:
    assert starts_segment(packet, origin) is expected


def cut_points(keyframes_pts: list[int], segment_s: float) -> list[int]:
    """Drive a Cutter as the writer does over origin keyframes; the pts each segment opens at."""
    cutter = Cutter(segment_s)
    opened: list[int] = []
    for pts in keyframes_pts:
        if cutter.due(pts, TB):
            cutter.cut(T)
        if not cutter.is_open:
            cutter.opened(pts)
            opened.append(pts)
    return opened


@pytest.mark.parametrize(
    ("keyframes_s", "segment_s", "opened_s"),
    [
        ([0, 1, 2, 3, 4, 5], 2.0, [0, 2, 4]),
        ([0, 1.5, 3, 4.5, 6], 2.0, [0, 3, 6]),  # cut at the first keyframe 2 s or more in
        ([0, 5, 6, 7], 2.0, [0, 5, 7]),  # a long GOP makes a long segment
        ([0, 0.5, 1.0], 10.0, [0]),
        ([0, 1, 2], 0.0, [0, 1, 2]),  # segment_s 0: every keyframe
    ],
)
def test_cut_at_the_first_keyframe_segment_s_in(
    keyframes_s: list[float], segment_s: float, opened_s: list[float]
) -> None:
    to_pts = [round(s * 90_000) for s in keyframes_s]
    assert cut_points(to_pts, segment_s) == [round(s * 90_000) for s in opened_s]


@given(st.lists(st.integers(1, 5 * 90_000), min_size=1, max_size=80), st.floats(0.1, 10.0))
def test_segments_are_at_least_segment_s_and_end_at_the_first_keyframe_after(
    gops: list[int], segment_s: float
) -> None:
    keyframes = [0]
    for gop in gops:
        keyframes.append(keyframes[-1] + gop)
    opened = cut_points(keyframes, segment_s)
    assert opened[0] == 0
    for start, end in zip(opened, opened[1:], strict=False):
        assert seconds(end - start, TB) >= segment_s
        # No keyframe in between would have done: the one before `end` was too early.
        before = max(k for k in keyframes if k < end)
        assert before == start or seconds(before - start, TB) < segment_s


def test_last_end_is_the_end_of_the_last_frame_and_never_moves_back() -> None:
    cutter = Cutter(2.0, last_end=T)
    cutter.opened(0)
    # The first packet has no length yet (no frame duration seen).
    assert cutter.written(0, 0, 0.0) == 0
    # Then 3600 ticks (40 ms at 90 kHz) per frame, from the dts steps.
    assert cutter.written(3600, 3600, 0.0) == 7200
    assert cutter.written(10800, 7200, 0.0) == 14400  # a B-frame's pts is after its dts
    cutter.extend(T + timedelta(seconds=1))
    cutter.extend(T + timedelta(seconds=0.5))
    assert cutter.last_end == T + timedelta(seconds=1)


def test_frame_length_survives_a_reconnect() -> None:
    cutter = Cutter(2.0)
    cutter.written(0, 0, 0.0)
    cutter.written(3600, 3600, 0.0)
    cutter.reconnected()
    # The new connection's timestamps start anywhere; its first frame keeps the known length.
    assert cutter.written(500, 500, 0.0) == 4100
    assert cutter.written(1000, 1000, 0.0) == 1500  # then it learns the new one


@pytest.mark.parametrize(
    ("drifts", "drift_ms"),
    [
        ([], 0.0),
        ([0.25, 0.1234567, 0.5], 123.457),  # the smallest, in ms, to the microsecond
        ([-0.002, 0.01], -2.0),  # a camera clock ahead of the anchor
    ],
)
def test_seal_reports_the_smallest_drift_of_the_segment(drifts: list[float], drift_ms: float) -> None:
    cutter = Cutter(2.0)
    cutter.opened(0)
    for i, drift in enumerate(drifts):
        cutter.written(i * 3600, i * 3600, drift)
    assert cutter.cut(T) == drift_ms
    # The next segment starts its own.
    cutter.opened(10 * 3600)
    assert cutter.cut(T) == 0.0


def test_states() -> None:
    cutter = Cutter(2.0, last_end=T)
    assert cutter.state is SegmentState.CLOSED and not cutter.due(10**9, TB)
    cutter.opened(0)
    assert cutter.is_open and not cutter.due(90_000, TB) and cutter.due(180_000, TB)
    end = T + timedelta(seconds=2)
    cutter.cut(end)
    assert cutter.state is SegmentState.CLOSED and cutter.last_end == end
    cutter.opened(180_000)
    cutter.failed(None)  # nothing of it saved: the recording's end is unknown
    assert cutter.state is SegmentState.FAILED and cutter.last_end is None and not cutter.is_open
    cutter.opened(360_000)
    assert cutter.is_open
