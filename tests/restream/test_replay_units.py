"""The pure parts of RTSP replay: reading the window a request asks for, and the feeder's timeline
(keyframe start, gaps skipped, the end) against a fake clock and fake recordings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from recorder.reader import GapMarker, ReadItem, SegmentOpened
from restream.replayfeed import LEAD_NS, ReplayFeeder
from restream.replayrequest import BadReplayRequest, Window, clock_range, format_clock, parse_clock, window_of_query
from streams.packet import MediaPacket, StreamInfo

T0 = datetime(2026, 12, 5, 6, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
VIDEO = StreamInfo(0, "video", "h264", Fraction(1, 90000), extradata=b"\x00\x00\x00\x01\x67\x42\x00\x00\x00\x01\x68\xce")


def test_query_window() -> None:
    assert window_of_query(None, T0, NOW) == Window(T0, NOW)
    assert window_of_query("start=2026-12-05T06:10:00Z&end=2026-12-05T06:20:00%2B00:00", T0, NOW) == Window(
        T0 + timedelta(minutes=10), T0 + timedelta(minutes=20))
    for bad in ("start=yesterday", "start=2026-12-05T06:10:00Z&start=2026-12-05T06:11:00Z", "speed=2",
                "start=2026-12-05T06:20:00Z&end=2026-12-05T06:10:00Z"):
        with pytest.raises(BadReplayRequest):
            window_of_query(bad, T0, NOW)
    with pytest.raises(BadReplayRequest, match="no recording"):
        window_of_query(None, None, NOW)


def test_clock_range() -> None:
    assert clock_range(None) is None and clock_range("npt=0.000-") is None
    assert clock_range("clock=20261205T060000Z-") == (T0, None)
    assert clock_range("clock=20261205T060000.25Z-20261205T060100Z") == (
        T0 + timedelta(milliseconds=250), T0 + timedelta(minutes=1))
    assert parse_clock(format_clock(T0 + timedelta(seconds=1.5))) == T0 + timedelta(seconds=1.5)
    for bad in ("clock=-20261205T060000Z", "clock=20261305T060000Z-", "clock=2026-12-05-",
                "clock=20261205T060100Z-20261205T060000Z"):
        with pytest.raises(BadReplayRequest):
            clock_range(bad)


class FakeSink:
    """An appsrc whose clock the test moves: what was pushed, at which running time."""

    def __init__(self, clock: list[int]) -> None:
        self.clock = clock
        self.pushed: list[tuple[bytes, int | None, bool, int]] = []
        self.ended = False
        self.done = asyncio.Event()

    def push(self, data: bytes, pts_ns: int | None, dts_ns: int | None, keyframe: bool) -> None:
        self.pushed.append((data, pts_ns, keyframe, self.clock[0]))

    def running_time_ns(self) -> int | None:
        return self.clock[0]

    def end(self) -> None:
        self.ended = True
        self.done.set()


class FakeRecordings:
    """Two spans of 10 frames at 10 fps, a keyframe every 5, with a 60 s gap between them."""

    def __init__(self) -> None:
        self.frames = [(T0.timestamp() + i * 0.1, i % 5 == 0) for i in range(10)] + \
                      [(T0.timestamp() + 61 + i * 0.1, i % 5 == 0) for i in range(10)]

    async def read(self, camera: str, start: datetime, end: datetime) -> AsyncIterator[ReadItem]:
        yield SegmentOpened(1, "a", T0, T0 + timedelta(seconds=1), "", (VIDEO,))
        emitted_gap = False
        first = max((i for i, (at, key) in enumerate(self.frames) if key and at <= start.timestamp()), default=0)
        for i, (at, key) in enumerate(self.frames[first:], first):
            if at >= end.timestamp():
                break
            if i == 10 and not emitted_gap:
                emitted_gap = True
                yield GapMarker(T0 + timedelta(seconds=1), T0 + timedelta(seconds=61), "end of stream")
                yield SegmentOpened(2, "b", T0 + timedelta(seconds=61), T0 + timedelta(seconds=62), "", (VIDEO,))
            yield MediaPacket(0, bytes([i]) * 8, round(at * 90000), round(at * 90000), key, 0.0, at)


async def _run_clock(clock: list[int], feeder_done: asyncio.Event) -> None:
    while not feeder_done.is_set():
        clock[0] += 10_000_000  # 10 ms of media time per turn of the loop
        await asyncio.sleep(0)


async def test_feeder_starts_at_the_keyframe_skips_the_gap_and_ends() -> None:
    clock = [1_000_000_000]
    sink = FakeSink(clock)
    window = Window(T0 + timedelta(seconds=0.7), T0 + timedelta(seconds=61.6))
    feeder = ReplayFeeder("cam/playback", FakeRecordings(), "cam", window, (VIDEO,), [sink])
    running = asyncio.create_task(feeder.run())
    await asyncio.sleep(0.05)
    # Primed with the parameter sets alone (the media's caps; no picture from before PLAY).
    assert [data for data, *_ in sink.pushed] == [VIDEO.extradata]
    feeder.play()
    done = asyncio.Event()
    ticking = asyncio.create_task(_run_clock(clock, done))
    async with asyncio.timeout(10):
        await sink.done.wait()
    done.set()
    await ticking
    frames = [(data[-1], pts, at) for data, pts, _key, at in sink.pushed[1:]]
    # From frame 5 (the keyframe at 0.5 s, before the asked 0.7 s) to 9, then 10..15 (61.0-61.5 s).
    assert [f for f, _, _ in frames] == [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
    pts = [p or 0 for _, p, _ in frames]
    assert abs(pts[1] - pts[0] - 100_000_000) < 1000  # epoch floats: to the microsecond
    assert abs(pts[5] - pts[4] - 40_000_000) < 1000  # the 60 s gap is skipped: 40 ms after the last frame
    for _, p, pushed_at in frames:
        assert p is not None and pushed_at >= p - LEAD_NS  # never pushed more than LEAD_NS early
    assert feeder.sent.frames == 11 and feeder.sent.ended
    feeder.stop()
    await running
