"""Timestamp repair and the UTC anchor: table-driven cases and properties (pure, no I/O)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recorder.timeline import ANCHOR_WINDOW_S, MAX_HELD, TimestampRepair, UtcAnchor, seconds, to_utc
from streams.packet import MediaPacket, StreamInfo

TB = Fraction(1, 90_000)
FRAME = 3600  # ticks of one frame at 25 fps
VIDEO = StreamInfo(0, "video", "h264", TB, None, 64, 64)
AUDIO = StreamInfo(1, "audio", "aac", Fraction(1, 8000), sample_rate=8000)
T0 = 1_770_000_000.0  # wall time (UTC seconds) of video pts 0


def pkt(pts: int | None, dts: int | None, key: bool = False, stream: int = 0, wallclock: float = 0.0) -> MediaPacket:
    return MediaPacket(stream, b"x", pts, dts, key, 0.0, wallclock)


def video(frame: int, delay: float = 0.0) -> MediaPacket:
    """Frame `frame` of VIDEO, arrived `delay` seconds after its time."""
    pts = frame * FRAME
    return pkt(pts, pts, frame % 25 == 0, wallclock=T0 + seconds(pts, TB) + delay)


# ---- TimestampRepair ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("packets", "expected"),
    [
        ([pkt(10, 10), pkt(20, 20)], [(10, 10), (20, 20)]),
        # non-monotonic dts is pushed forward, pts never before dts
        ([pkt(10, 10), pkt(9, 9)], [(10, 10), (11, 11)]),
        # missing pts takes the dts; missing dts stays <= pts
        ([pkt(10, 10), pkt(None, 12), pkt(30, None)], [(10, 10), (12, 12), (30, 13)]),
        # a first packet without dts takes its pts
        ([pkt(40, None), pkt(50, 50)], [(40, 40), (50, 50)]),
        # untimed first packets are held and stamped just before the first timed one
        ([pkt(None, None, True), pkt(None, None), pkt(100, 100)], [(98, 98), (99, 99), (100, 100)]),
        # untimed later packets follow the last one
        ([pkt(5, 5), pkt(None, None)], [(5, 5), (6, 6)]),
        # pts before dts (a broken camera) is lifted to the dts
        ([pkt(10, 10), pkt(5, 20)], [(10, 10), (20, 20)]),
        # B-frames: pts after dts is kept
        ([pkt(20, 10), pkt(40, 11), pkt(30, 12)], [(20, 10), (40, 11), (30, 12)]),
    ],
)
def test_timestamp_repair_table(packets: list[MediaPacket], expected: list[tuple[int, int]]) -> None:
    repair = TimestampRepair()
    assert [(pts, dts) for p in packets for _, pts, dts in repair.fix(p)] == expected


def test_untimed_packets_beyond_max_held_are_dropped() -> None:
    repair = TimestampRepair()
    for _ in range(MAX_HELD + 5):
        assert repair.fix(pkt(None, None)) == []
    out = repair.fix(pkt(1000, 1000))
    assert len(out) == MAX_HELD + 1
    assert [dts for _, _, dts in out] == list(range(1000 - MAX_HELD, 1001))


timestamps = st.one_of(st.none(), st.integers(-(2**40), 2**40))


@given(st.lists(st.tuples(timestamps, timestamps), max_size=60))
def test_repaired_timestamps_are_monotonic_and_keep_order(stamps: list[tuple[int | None, int | None]]) -> None:
    repair = TimestampRepair()
    packets = [pkt(p, d) for p, d in stamps]
    out = [x for p in packets for x in repair.fix(p)]
    dts = [d for _, _, d in out]
    assert all(a < b for a, b in zip(dts, dts[1:], strict=False))  # strictly increasing
    assert all(pts >= d for _, pts, d in out)
    # Packets come out once each, in the order they came in.
    positions = [next(i for i, p in enumerate(packets) if p is x) for x, _, _ in out]
    assert positions == sorted(set(positions))
    # Only untimed packets before the first timed one can be lost, and only beyond MAX_HELD.
    first_timed = next((i for i, (p, d) in enumerate(stamps) if p is not None or d is not None), None)
    if first_timed is None:
        assert out == []
    else:
        assert len(out) == len(packets) - first_timed + min(first_timed, MAX_HELD)


@given(st.lists(st.tuples(st.integers(0, 2**40), st.integers(0, 5000)), min_size=1, max_size=40))
def test_clean_timestamps_pass_unchanged(steps: list[tuple[int, int]]) -> None:
    """Increasing dts with pts >= dts (a well-behaved camera) is not touched."""
    repair = TimestampRepair()
    dts = 0
    for step, reorder in steps:
        dts += step + 1
        [(_, pts_out, dts_out)] = repair.fix(pkt(dts + reorder, dts))
        assert (pts_out, dts_out) == (dts + reorder, dts)


@given(st.integers(-(2**62), 2**62), st.sampled_from([Fraction(1, 90_000), Fraction(1, 48_000), Fraction(1001, 30_000),
                                                      Fraction(1, 1000), Fraction(3, 7)]))
def test_seconds_is_the_float_of_the_exact_fraction(ticks: int, time_base: Fraction) -> None:
    assert seconds(ticks, time_base) == float(ticks * time_base)


# ---- UtcAnchor ---------------------------------------------------------------------------
def test_packets_wait_for_the_anchor_window_then_come_out_in_order() -> None:
    anchor = UtcAnchor(VIDEO, [0, 1])
    window_frames = math.ceil(ANCHOR_WINDOW_S * 25)  # the first frame 1.5 s after frame 0
    sent: list[MediaPacket] = []
    for frame in range(window_frames):
        sent.append(video(frame))
        assert anchor.push(sent[-1]) == []
        assert anchor.anchor is None
    sent.append(video(window_frames))
    out = anchor.push(sent[-1])
    assert [p for p, _, _ in out] == sent
    assert anchor.anchor == T0
    # From now on a packet comes out as it goes in.
    after = video(window_frames + 1)
    assert anchor.push(after) == [(after, after.pts, after.dts)]


def test_audio_before_the_first_video_packet_waits_for_it() -> None:
    anchor = UtcAnchor(VIDEO, [0, 1])
    early_audio = pkt(0, 0, stream=1, wallclock=T0)
    first_video = video(0)
    assert anchor.push(early_audio) == []
    assert anchor.push(first_video) == []
    # The connection ends within the window: both come out, placed by the video's wall time.
    assert [p for p, _, _ in anchor.drain()] == [early_audio, first_video]
    assert anchor.anchor == T0


def test_drain_without_an_origin_packet_drops_what_it_held() -> None:
    anchor = UtcAnchor(VIDEO, [0, 1])
    anchor.push(pkt(0, 0, stream=1, wallclock=T0))
    assert anchor.drain() == []
    assert anchor.anchor is None
    assert anchor.drain() == []


def test_streams_not_recorded_give_nothing() -> None:
    anchor = UtcAnchor(VIDEO, [0])
    assert anchor.push(pkt(0, 0, stream=1, wallclock=T0)) == []
    assert anchor.drain() == []


@given(st.lists(st.floats(0.0, 2.0), min_size=1, max_size=60), st.integers(0, 1000))
def test_anchor_is_the_earliest_arrival_in_the_window(delays: list[float], on_time: int) -> None:
    """Arrival is only ever late: the anchor takes the least delayed packet of the window."""
    window = delays[: math.ceil(ANCHOR_WINDOW_S * 25) + 1]  # frames 0 to the first 1.5 s after 0
    window[on_time % len(window)] = delays[on_time % len(window)] = 0.0
    anchor = UtcAnchor(VIDEO, [0])
    for frame, delay in enumerate(delays):
        anchor.push(video(frame, delay))
    anchor.drain()
    assert anchor.anchor is not None
    expected = min(video(f, d).wallclock - seconds(f * FRAME, TB) for f, d in enumerate(window))
    assert anchor.anchor == expected
    assert anchor.anchor == pytest.approx(T0, abs=1e-6)  # the on-time packet, but for float rounding


def test_utc_and_drift_follow_the_anchor() -> None:
    anchor = UtcAnchor(VIDEO, [0])
    anchor.push(video(0))
    anchor.drain()
    assert anchor.utc(90_000) == to_utc(T0 + 1.0)
    assert anchor.drift(T0 + 1.25, 90_000) == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("not_before_s", "start_s", "shift_s"),
    [
        (None, 2.0, 0.0),  # first segment: wherever the anchor puts it
        (1.0, 2.0, 0.0),  # after the last one: kept
        (2.0, 2.0, 0.0),  # right at its end: kept
        (3.5, 3.5, 1.5),  # would overlap it: starts at its end, the anchor moves later
    ],
)
def test_segment_starts_never_overlap_the_last_one(
    not_before_s: float | None, start_s: float, shift_s: float
) -> None:
    anchor = UtcAnchor(VIDEO, [0])
    anchor.push(video(0))
    anchor.drain()
    not_before = to_utc(T0) + timedelta(seconds=not_before_s) if not_before_s is not None else None
    assert anchor.start_at(2 * 90_000, not_before) == to_utc(T0) + timedelta(seconds=start_s)
    assert anchor.anchor == pytest.approx(T0 + shift_s)
    # Later packets of the connection move with it, so time stays monotonic.
    assert anchor.utc(3 * 90_000) == to_utc(T0 + 3.0 + shift_s)


def test_to_utc_is_aware() -> None:
    assert to_utc(0.0) == datetime(1970, 1, 1, tzinfo=UTC)

