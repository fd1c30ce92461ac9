"""StreamStats: rates over the window, keyframe interval, ages and counters."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from streams.packet import MediaPacket, StreamInfo
from streams.stats import StreamStats
from tests.streams.h264 import encode

VIDEO = StreamInfo(index=0, kind="video", codec="h264", time_base=Fraction(1, 90000), width=1280, height=720)
AUDIO = StreamInfo(index=1, kind="audio", codec="aac", time_base=Fraction(1, 8000))


def feed(
    stats: StreamStats, start: float, seconds: float, fps: int = 25, size: int = 5000, gop: int = 50
) -> float:
    n = int(seconds * fps)
    step = 90000 // fps
    for i in range(n):
        t = start + i / fps
        stats.update(MediaPacket(0, b"x" * size, i * step, i * step, i % gop == 0, t, t))
    return start + n / fps


def test_never_seen_a_packet() -> None:
    snap = StreamStats().snapshot(100.0)
    assert snap.fps == 0 and snap.bitrate_bps == 0 and snap.last_packet_age_s is None
    assert snap.codec is None and snap.packets_total == 0 and snap.keyframe_interval_s is None


@pytest.mark.parametrize("fps", [5, 25, 30])
def test_steady_stream(fps: int) -> None:
    stats = StreamStats()
    stats.set_streams((VIDEO, AUDIO))
    end = feed(stats, 1000.0, 12, fps=fps, size=4000, gop=2 * fps)
    snap = stats.snapshot(end)
    assert snap.fps == pytest.approx(fps, rel=0.05)
    assert snap.bitrate_bps == pytest.approx(fps * 4000 * 8, rel=0.05)
    assert snap.keyframe_interval_s == pytest.approx(2.0)
    assert (snap.width, snap.height, snap.codec) == (1280, 720, "h264")
    assert snap.packets_total == 12 * fps and snap.bytes_total == 12 * fps * 4000
    assert snap.last_packet_age_s == pytest.approx(1 / fps)


def test_rates_fall_to_zero_when_packets_stop() -> None:
    stats = StreamStats()
    stats.set_streams((VIDEO,))
    end = feed(stats, 50.0, 6)
    # Half of the 4-5 s window holds packets: the rate sinks, it does not vanish at once.
    assert 8 < stats.snapshot(end + 2.5).fps < 15
    snap = stats.snapshot(end + 10)
    assert snap.fps == 0 and snap.bitrate_bps == 0
    assert snap.last_packet_age_s == pytest.approx(10 + 1 / 25)


def test_short_history_is_not_diluted() -> None:
    stats = StreamStats()
    stats.set_streams((VIDEO,))
    end = feed(stats, 10.3, 1.0)
    assert stats.snapshot(end).fps == pytest.approx(25, rel=0.1)


def test_counters_and_dropped_sources() -> None:
    hub_drops = [7]
    stats = StreamStats(extra_dropped=lambda: hub_drops[0])
    stats.note_dropped(3)
    stats.note_reconnect()
    snap = stats.snapshot(0.0)
    assert snap.dropped_packets == 10 and snap.reconnects == 1


def test_audio_counts_bytes_not_frames() -> None:
    stats = StreamStats()
    stats.set_streams((VIDEO, AUDIO))
    for i in range(50):
        stats.update(MediaPacket(1, b"a" * 100, i * 160, i * 160, True, 20.0 + i / 50, 0.0))
    snap = stats.snapshot(21.0)
    assert snap.fps == 0 and snap.bitrate_bps == pytest.approx(50 * 100 * 8, rel=0.05)


def test_backlog_burst_on_connect_does_not_inflate_fps() -> None:
    stats = StreamStats()
    stats.set_streams((VIDEO,))
    # 30 frames (1.2 s of video) arrive at once, then the live 25 fps follows.
    for i in range(30):
        stats.update(MediaPacket(0, b"x" * 1000, i * 3600, i * 3600, i == 0, 500.0, 0.0))
    for i in range(30, 30 + 40):
        t = 500.0 + (i - 29) / 25
        stats.update(MediaPacket(0, b"x" * 1000, i * 3600, i * 3600, False, t, 0.0))
    snap = stats.snapshot(500.0 + 41 / 25)
    assert snap.fps == pytest.approx(25, rel=0.08)
    assert snap.bitrate_bps == pytest.approx(25 * 8000, rel=0.08)


def test_reconnect_restarts_the_window() -> None:
    stats = StreamStats()
    stats.set_streams((VIDEO,))
    end = feed(stats, 100.0, 3)
    stats.set_streams((VIDEO,))
    assert stats.snapshot(end).fps == 0
    assert stats.packets_total == 75  # totals survive reconnects


@pytest.mark.parametrize("bframes", [0, 2])
def test_reorders_is_seen_in_an_encoder_s_b_frames(bframes: int) -> None:
    # libx264's own timestamps: with B-frames a frame is shown before one decoded ahead of it.
    info, packets = encode([np.full((64, 96, 3), 9 * i, np.uint8) for i in range(20)], gop=10, bframes=bframes)
    stats = StreamStats()
    stats.set_streams((info,))
    assert not stats.reorders
    for packet in packets:
        stats.update(packet)
    assert stats.reorders is bool(bframes)
    assert stats.snapshot(packets[-1].received).reorders is bool(bframes)
    # A reconnect bringing the same video keeps it (the first frames cannot tell); another video clears it.
    stats.set_streams((info,))
    assert stats.reorders is bool(bframes)
    stats.set_streams((VIDEO,))
    assert not stats.reorders


def test_a_timestamp_reset_is_not_a_reorder() -> None:
    stats = StreamStats()
    stats.set_streams((VIDEO,))
    for pts in (0, 3600, 7200, 0, 3600):  # the camera's clock starts over: both times go back
        stats.update(MediaPacket(0, b"x", pts, pts, pts == 0, 1.0, 1.0))
    assert not stats.reorders
