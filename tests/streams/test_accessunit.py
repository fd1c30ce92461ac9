"""streams/accessunit.py: one timed packet per video frame, from real x264/x265 streams cut the way
cameras and demuxers cut them, and from the timestamp patterns libav's RTSP demuxer gives."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from streams.accessunit import MAX_HELD_PACKETS, AccessUnits
from streams.bitstream import START_CODE_3, nal_units
from streams.packet import MediaPacket, StreamInfo

TB = Fraction(1, 90000)
STEP = 3600  # 25 fps in 1/90000 s
VIDEO = {"h264": StreamInfo(0, "video", "h264", TB), "hevc": StreamInfo(0, "video", "hevc", TB)}
AUDIO = StreamInfo(1, "audio", "pcm_alaw", Fraction(1, 8000))


def encode(codec: str, frames: int = 12, bframes: int = 0) -> list[av.Packet]:
    """Annex B access units of a moving gradient, two slices per picture, an access unit delimiter
    in each (as the GStreamer test camera and many IP cameras send), a keyframe every 6 frames."""
    ctx = av.CodecContext.create("libx264" if codec == "h264" else "libx265", "w")
    ctx.width, ctx.height, ctx.pix_fmt = 320, 192, "yuv420p"
    ctx.time_base, ctx.framerate = TB, Fraction(25, 1)
    if codec == "h264":
        ctx.options = {"preset": "ultrafast", "bf": str(bframes),
                       "x264-params": "keyint=6:min-keyint=6:scenecut=0:slices=2:aud=1"}
    else:
        ctx.options = {"preset": "ultrafast",
                       "x265-params": f"keyint=6:min-keyint=6:scenecut=0:slices=2:aud=1:bframes={bframes}:log-level=error"}
    ramp = np.add.outer(np.arange(192), np.arange(320))
    out: list[av.Packet] = []
    for i in range(frames):
        picture = np.repeat(((ramp + 7 * i) % 256)[:, :, None], 3, axis=2).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = i * STEP, TB
        out += ctx.encode(frame)
    out += ctx.encode(None)
    return out


def packet(data: bytes, pts: int | None, dts: int | None, key: bool = False, stream: int = 0) -> MediaPacket:
    return MediaPacket(stream, data, pts, dts, key, 0.0, 0.0)


def per_nal(au: av.Packet) -> list[MediaPacket]:
    """An access unit as a demuxer that does not parse hands it over: one packet per NAL unit,
    all with the frame's timestamps, no keyframe flag (RTP packets carry none)."""
    return [packet(START_CODE_3 + nal, au.pts, au.dts) for nal in nal_units(bytes(au))]


def decode(codec: str, packets: list[MediaPacket]) -> int:
    ctx = av.CodecContext.create(codec, "r")
    frames = 0
    for p in packets:
        frames += len(ctx.decode(av.Packet(p.data)))
    return frames + len(ctx.decode(None))


@pytest.mark.parametrize(("codec", "bframes"), [("h264", 0), ("h264", 2), ("hevc", 0), ("hevc", 2)])
def test_frames_sent_one_nal_unit_per_packet_come_out_whole(codec: str, bframes: int) -> None:
    aus = encode(codec, bframes=bframes)
    assert all(len(list(nal_units(bytes(p)))) >= 3 for p in aus), "AUD and two slices in every frame"
    units = AccessUnits((VIDEO[codec], AUDIO))
    out: list[MediaPacket] = []
    for i, au in enumerate(aus):
        for part in per_nal(au):
            out += units.push(part)
        out += units.push(packet(b"\xd5" * 160, i * STEP, i * STEP, stream=1))  # audio between frames
    out += units.flush()
    video = [p for p in out if p.stream == 0]
    assert [list(nal_units(p.data)) for p in video] == [list(nal_units(bytes(p))) for p in aus]
    assert [(p.pts, p.dts) for p in video] == [(p.pts, p.dts) for p in aus]
    assert [p.is_keyframe for p in video] == [p.is_keyframe for p in aus]  # found from the NAL units
    assert units.joined == len(aus) and units.joining
    # Every audio packet is still there, each after the frame that came before it.
    assert [p.stream for p in out] == [0, 1] * len(aus)
    assert decode(codec, video) == len(aus)


def test_parameter_sets_sent_apart_join_their_keyframe() -> None:
    aus = encode("h264")
    key = bytes(aus[0])
    nals = list(nal_units(key))
    head = b"".join(START_CODE_3 + n for n in nals if n[0] & 0x1F in (7, 8, 9))  # AUD, SPS, PPS
    slices = b"".join(START_CODE_3 + n for n in nals if n[0] & 0x1F not in (7, 8, 9))
    units = AccessUnits((VIDEO["h264"],))
    out = units.push(packet(head, 0, 0)) + units.push(packet(slices, 0, 0, key=True))
    out += units.push(packet(bytes(aus[1]), STEP, STEP)) + units.flush()
    assert [(p.pts, p.is_keyframe, len(p.data)) for p in out] == [(0, True, len(head) + len(slices)),
                                                                  (STEP, False, len(bytes(aus[1])))]


def test_two_pictures_with_one_timestamp_stay_two() -> None:
    """A first slice after a frame's slices is a new picture even with equal timestamps."""
    aus = encode("h264")
    units = AccessUnits((VIDEO["h264"],))
    out = units.push(packet(bytes(aus[0]), 0, 0, key=True)) + units.push(packet(bytes(aus[1]), 0, 0))
    out += units.flush()
    assert [p.data for p in out] == [bytes(aus[0]), bytes(aus[1])] and units.joined == 0


# What libav's RTSP demuxer gives the test camera at the start of a connection (tests/camera_server.py;
# streams/rtsp.py): the first frame untimed, and with two B-frames no dts until the fourth.
PLAIN = [(None, None), (3600, 3600), (7200, 7200), (10800, 10800)]
PLAIN_FIXED = [(0, 0), (3600, 3600), (7200, 7200), (10800, 10800)]
BFRAMES = [(None, None), (10800, None), (3600, None), (7200, 3600), (21600, 7200), (14400, 10800)]
BFRAMES_FIXED = [(0, -7200), (10800, -3600), (3600, 0), (7200, 3600), (21600, 7200), (14400, 10800)]


@pytest.mark.parametrize(("given", "fixed", "held"), [(PLAIN, PLAIN_FIXED, 2), (BFRAMES, BFRAMES_FIXED, 4)])
def test_untimed_first_frames_get_the_times_they_had(
    given: list[tuple[int | None, int | None]], fixed: list[tuple[int, int]], held: int
) -> None:
    units = AccessUnits((VIDEO["h264"], AUDIO), whole_frames=True)
    out: list[MediaPacket] = []
    for i, (pts, dts) in enumerate(given):
        ready = units.push(packet(b"\x00\x00\x01\x09\xf0" + bytes([i]), pts, dts, key=i == 0))
        # Held only until two frames in a row with a dts show the step; then nothing waits.
        assert (ready == []) == (i < held), i
        out += ready
        out += units.push(packet(b"a", 100 * i, 100 * i, stream=1))
    video = [(p.pts, p.dts) for p in out if p.stream == 0]
    assert video == fixed
    assert [p.stream for p in out] == [0, 1] * len(given)  # the order they came in


def test_sound_before_the_first_frame_waits_with_it_for_its_time() -> None:
    """The test camera's G.711 arrives before the untimed first frame: the frame still gets the time
    it had (not one tick before the next, which ffmpeg then called non monotonically increasing dts),
    and the sound keeps its place before it."""
    units = AccessUnits((VIDEO["h264"], AUDIO), whole_frames=True)
    out = units.push(packet(b"a", 0, 0, stream=1))
    assert out == []
    for i, (pts, dts) in enumerate(PLAIN):
        out += units.push(packet(b"\x00\x00\x01\x09\xf0" + bytes([i]), pts, dts, key=i == 0))
    assert [(p.stream, p.pts, p.dts) for p in out] == [(1, 0, 0), *((0, pts, dts) for pts, dts in PLAIN_FIXED)]


def test_sound_alone_is_not_held_past_the_limit() -> None:
    units = AccessUnits((VIDEO["h264"], AUDIO), whole_frames=True)
    out = [p for i in range(MAX_HELD_PACKETS + 1) for p in units.push(packet(b"a", i, i, stream=1))]
    assert len(out) == MAX_HELD_PACKETS + 1
    # The video's first frame, when it comes untimed, is still settled then.
    for i, (pts, dts) in enumerate(PLAIN):
        out += units.push(packet(b"\x00\x00\x01\x09\xf0" + bytes([i]), pts, dts, key=i == 0))
    assert [(p.pts, p.dts) for p in out if p.stream == 0] == PLAIN_FIXED


def test_whole_frames_pass_at_once_and_a_late_part_switches_to_joining() -> None:
    aus = encode("h264", frames=8)
    units = AccessUnits((VIDEO["h264"],), whole_frames=True)
    for i, au in enumerate(aus[:4]):
        assert [p.data for p in units.push(packet(bytes(au), au.pts, au.dts, au.is_keyframe))] == [bytes(au)], i
    # Frame 4 comes in parts: its first part goes on whole (nothing says more follows)...
    parts = per_nal(aus[4])
    first = units.push(parts[0])
    assert len(first) == 1 and not units.joining
    late = [p for part in parts[1:] for p in units.push(part)]
    # ...the rest cannot be joined to it any more: passed on as they are, and counted.
    assert len(late) == len(parts) - 1 and units.late_parts == len(parts) - 1 and units.joining
    # From then on frames are joined: one packet per frame, one frame later.
    out = [p for au in aus[5:] for part in per_nal(au) for p in units.push(part)] + units.flush()
    assert [list(nal_units(p.data)) for p in out] == [list(nal_units(bytes(au))) for au in aus[5:]]


def test_a_stream_that_never_gets_timestamps_is_passed_on_after_the_limit() -> None:
    units = AccessUnits((VIDEO["h264"],), whole_frames=True)
    out: list[MediaPacket] = []
    for i in range(60):
        # An AUD and an IDR slice (first_mb_in_slice 0): each packet is a picture of its own.
        out += units.push(packet(b"\x00\x00\x01\x09\xf0\x00\x00\x01\x65\x88" + bytes([i]), None, None))
    assert 45 <= len(out) <= 60
    assert [p.data[-1] for p in out] == list(range(len(out)))


def test_no_video_and_other_codecs_pass_straight_through() -> None:
    mjpeg = StreamInfo(0, "video", "mjpeg", TB)
    units = AccessUnits((mjpeg, AUDIO))
    first = packet(b"jpeg", None, None)
    assert units.push(first) == [first]
    assert units.push(packet(b"jpeg", None, None)) != []
