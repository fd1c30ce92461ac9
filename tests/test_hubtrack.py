"""HubVideoTrack: what each viewer's sender gets from the hub (timestamps, SPS/PPS on keyframes)."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from streams.bitstream import START_CODE
from webrtc.hubtrack import RESUME_GAP, VIDEO_CLOCK, HubVideoTrack, to_video_clock
from streams.hub import StreamHub
from streams.packet import MediaPacket, StreamInfo

SPS = START_CODE + b"\x67\x4d\x00\x28\xaa"
PPS = START_CODE + b"\x68\xee\x3c\x80"
IDR = START_CODE + b"\x65\x88\x84\x00"
SLICE = START_CODE + b"\x41\x9a\x00"


@given(st.integers(-(2**40), 2**40), st.integers(1, 10**6), st.integers(1, 10**6))
def test_to_video_clock_is_int_of_the_fraction(ts: int, numerator: int, denominator: int) -> None:
    assert to_video_clock(ts, numerator, denominator) == int(ts * Fraction(numerator, denominator))


class OldTimestamps:
    """The track's timestamp rule as it was written with Fraction arithmetic (the oracle)."""

    def __init__(self) -> None:
        self.origin: int | None = None
        self.base = 0
        self.last = -RESUME_GAP
        self.time_base = Fraction(1, 90_000)

    def change(self, time_base: Fraction) -> None:
        self.time_base = time_base
        self.origin = None
        self.base = self.last + RESUME_GAP

    def next(self, raw: int | None) -> int:
        if raw is None:
            ts = self.last + 1
        else:
            scaled = int(raw * self.time_base / VIDEO_CLOCK)
            if self.origin is None:
                self.origin = scaled
            ts = self.base + scaled - self.origin
        self.last = max(self.last, ts)
        return ts


def video(time_base: Fraction, extradata: bytes | None = SPS + PPS) -> tuple[StreamInfo, ...]:
    return (StreamInfo(0, "video", "h264", time_base, extradata, 1920, 1080),)


def packet(pts: int | None, keyframe: bool, data: bytes | None = None) -> MediaPacket:
    return MediaPacket(0, data or (IDR if keyframe else SLICE), pts, pts, keyframe, 0.0, 0.0)


async def test_timestamps_and_parameter_sets_across_time_bases_and_a_reconnect() -> None:
    hub = StreamHub("cam", 1000)
    track = HubVideoTrack(hub.subscribe("viewer"))
    oracle = OldTimestamps()
    sent: list[tuple[int, bytes]] = []
    expected: list[tuple[int, bytes]] = []
    # MP4-like 1/12800 with B-frames (pts out of order), a packet without timestamps first,
    # then a reconnect on RTP's own 90 kHz clock, then a 1/1000 source with a negative start.
    connections: list[tuple[Fraction, list[int | None]]] = [
        (Fraction(1, 12800), [None, 0, 2048, 1024, 512, 1536, 4096, 3072, 2560, 3584, 5120, 7777]),
        (Fraction(1, 90_000), [900_000, 903_600, 907_200, 910_801]),
        (Fraction(1, 1000), [-80, -40, -39, 0, 40, 10_000_001]),
    ]
    for time_base, stamps in connections:
        hub.set_streams(video(time_base))
        oracle.change(time_base)
        for i, pts in enumerate(stamps):
            keyframe = i in (0, 5)
            hub.publish(packet(pts, keyframe))
            got = await track.recv()
            assert got.time_base == VIDEO_CLOCK and got.pts == got.dts
            sent.append((int(got.pts), bytes(got)))
            expected.append((oracle.next(pts), (SPS + PPS + IDR) if keyframe else SLICE))
    assert sent == expected
    track.stop()


async def test_a_keyframe_that_carries_its_sps_is_sent_as_it_is() -> None:
    hub = StreamHub("cam", 100)
    track = HubVideoTrack(hub.subscribe("viewer"))
    hub.set_streams(video(Fraction(1, 90_000)))
    hub.publish(packet(3000, True, SPS + PPS + IDR))
    hub.publish(packet(6000, False))
    first, second = await track.recv(), await track.recv()
    assert bytes(first) == SPS + PPS + IDR and bytes(second) == SLICE
    assert (first.pts, second.pts) == (0, 3000)
    track.stop()
