"""The wall's transcode in pieces: the size and refusal rules (tables), and the PyAV reencoder on real
H.265 made by libx265 and decoded back by FFmpeg's H.264 decoder."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from streams.bitstream import H264_SPS, nal_types
from streams.packet import MediaPacket, StreamInfo
from webrtc.livevideo import LiveVideo, Refusal, TranscodeUnavailable, VideoRefused, live_video
from webrtc.reencode import ReencodeError, Reencoder, output_size

TB = Fraction(1, 90000)
STEP = 3600  # 25 fps in 90 kHz


@pytest.mark.parametrize(("source", "target", "expected"), [
    ((1920, 1080), 640, (640, 360)),
    ((1280, 720), 640, (640, 360)),
    ((2560, 1440), 1280, (1280, 720)),
    ((640, 480), 640, (640, 480)),
    ((320, 180), 640, (320, 180)),  # never wider than the camera
    ((1920, 1080), 641, (640, 360)),  # even sides (4:2:0)
    ((704, 576), 640, (640, 524)),  # D1 PAL keeps its (non-square) storage aspect
    ((1080, 1920), 640, (640, 1138)),  # a corridor camera standing on end
    ((3, 3), 640, (2, 2)),
])
def test_output_size_keeps_the_aspect_and_even_sides(
    source: tuple[int, int], target: int, expected: tuple[int, int]
) -> None:
    assert output_size(*source, target) == expected


def test_output_size_refuses_an_empty_picture() -> None:
    with pytest.raises(ValueError):
        output_size(0, 1080, 640)


def video(codec: str) -> StreamInfo:
    return StreamInfo(0, "video", codec, TB, None, 1920, 1080)


@pytest.mark.parametrize(("stream", "transcode", "limit", "playable", "expected", "reorders"), [
    (video("h264"), False, 2, {"h264"}, LiveVideo.PASSTHROUGH, False),
    (video("h264"), True, 0, {"h264"}, LiveVideo.PASSTHROUGH, False),
    (None, False, 2, {"h264"}, LiveVideo.PASSTHROUGH, False),  # offline: checked when it returns
    (video("hevc"), True, 2, {"h264"}, LiveVideo.TRANSCODE, False),
    (video("hevc"), True, 2, {"h264", "hevc"}, LiveVideo.PASSTHROUGH, False),  # a browser that offers H.265
    (video("mjpeg"), True, 1, {"h264"}, LiveVideo.TRANSCODE, False),
    (video("hevc"), False, 2, {"h264"}, Refusal.TRANSCODE_OFF, False),
    (video("hevc"), True, 0, {"h264"}, Refusal.TRANSCODE_DISABLED, False),
    (video("no-such-codec"), True, 2, {"h264"}, Refusal.CODEC_UNSUPPORTED, False),
    # H.264 with B-frames: never untouched, transcoded where allowed, else refused saying so.
    (video("h264"), True, 2, {"h264"}, LiveVideo.TRANSCODE, True),
    (video("h264"), False, 2, {"h264"}, Refusal.REORDERED_FRAMES, True),
    (video("h264"), True, 0, {"h264"}, Refusal.REORDERED_FRAMES, True),
    (video("hevc"), True, 2, {"h264", "hevc"}, LiveVideo.TRANSCODE, True),
    (video("hevc"), False, 2, {"h264"}, Refusal.TRANSCODE_OFF, True),
    (None, False, 2, {"h264"}, LiveVideo.PASSTHROUGH, True),
])
def test_live_video_passes_through_transcodes_or_says_why(
    stream: StreamInfo | None, transcode: bool, limit: int, playable: set[str], expected: LiveVideo | Refusal,
    reorders: bool,
) -> None:
    if isinstance(expected, LiveVideo):
        assert live_video("gate", stream, transcode, limit, playable, reorders) is expected
        return
    with pytest.raises(VideoRefused) as refused:
        live_video("gate", stream, transcode, limit, playable, reorders)
    assert refused.value.status == 422
    assert refused.value.members()["reason"] == expected.value
    assert "gate" in refused.value.detail


def test_refusal_bodies_name_the_codec_as_viewers_know_it() -> None:
    with pytest.raises(VideoRefused) as refused:
        live_video("gate", video("hevc"), False, 2)
    assert refused.value.members() == {"reason": "transcode_off", "codec": "H.265"}
    assert "transcod" in refused.value.detail and "hevc" in refused.value.detail
    busy = TranscodeUnavailable(Refusal.TRANSCODE_BUSY, "hevc", "busy", 10.0, 2)
    assert busy.status == 503 and busy.retry_after_s == 10.0
    assert busy.members() == {"reason": "transcode_busy", "codec": "H.265", "limit": 2}


def hevc_clip(frames: int, size: tuple[int, int] = (320, 240), gop: int = 25) -> tuple[StreamInfo, list[MediaPacket]]:
    """`frames` of a moving gradient as H.265 Annex B packets (VPS/SPS/PPS in band), 25 fps, 90 kHz."""
    width, height = size
    enc = av.CodecContext.create("libx265", "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base, enc.framerate = TB, Fraction(25, 1)
    enc.options = {"preset": "ultrafast", "tune": "zerolatency",
                   "x265-params": f"keyint={gop}:min-keyint={gop}:repeat-headers=1:log-level=error"}
    ramp = (np.arange(width)[None, :] + np.arange(height)[:, None]).astype(np.uint16)
    packets: list[av.Packet] = []
    for index in range(frames):
        picture = np.repeat(((ramp + index * 5) % 256).astype(np.uint8)[:, :, None], 3, axis=2)
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = index * STEP, TB
        packets += enc.encode(frame)
    packets += enc.encode(None)
    info = StreamInfo(0, "video", "hevc", TB, None, width, height)
    return info, [MediaPacket(0, bytes(p), p.pts, p.dts, bool(p.is_keyframe), 0.0, 0.0) for p in packets]


def decode_h264(packets: list[MediaPacket]) -> list[av.VideoFrame]:
    decoder = av.CodecContext.create("h264", "r")
    frames: list[av.VideoFrame] = []
    for packet in packets:
        frames += decoder.decode(av.Packet(packet.data))
    frames += decoder.decode(None)
    return frames


def test_reencoder_turns_h265_into_h264_a_browser_can_start_on() -> None:
    info, packets = hevc_clip(150)  # 6 s
    assert packets[0].is_keyframe
    reencoder = Reencoder(info, 160)
    out = [p for packet in packets for p in reencoder.feed(packet)]
    reencoder.close()
    assert reencoder.output is not None
    assert (reencoder.output.codec, reencoder.output.width, reencoder.output.height) == ("h264", 160, 120)
    assert len(out) == 150 == reencoder.counts.encoded  # zerolatency: one packet per frame, at once
    # The camera's clock goes on: the same timestamps, in the same time base.
    assert [p.pts for p in out] == [p.pts for p in packets]
    # Every IDR carries its SPS/PPS (a viewer can start on any of them), one at least every 2 s.
    keys = [p for p in out if p.is_keyframe]
    assert out[0].is_keyframe and all(H264_SPS in nal_types("h264", p.data) for p in keys)
    assert [p.pts for p in keys] == [0, 180000, 360000]
    frames = decode_h264(out)
    assert len(frames) == 150 and {(f.width, f.height) for f in frames} == {(160, 120)}


def test_reencoder_skips_stale_frames_and_restarts_on_a_keyframe() -> None:
    info, packets = hevc_clip(30)
    reencoder = Reencoder(info, 160)
    stale = [p for packet in packets[:10] for p in reencoder.feed(packet, encode=False)]
    fresh = [p for packet in packets[10:] for p in reencoder.feed(packet)]
    assert stale == [] and reencoder.counts.skipped == 10 and reencoder.counts.decoded == 30
    assert fresh[0].is_keyframe and fresh[0].pts == packets[10].pts  # decodable from the first packet sent
    assert len(decode_h264(fresh)) == 20


def test_reencoder_survives_damaged_packets_and_gives_up_on_garbage() -> None:
    info, packets = hevc_clip(10)
    reencoder = Reencoder(info, 160)
    reencoder.feed(packets[0])
    junk = MediaPacket(0, b"\x00\x00\x01" + bytes(range(256)) * 4, STEP, STEP, False, 0.0, 0.0)
    assert reencoder.feed(junk) == []  # dropped, not raised
    assert len([p for packet in packets[1:] for p in reencoder.feed(packet)]) == 9
    with pytest.raises(ReencodeError, match="100 hevc packets in a row decoded to no picture"):
        for _ in range(200):
            reencoder.feed(junk)
    with pytest.raises(ReencodeError):
        Reencoder(StreamInfo(0, "video", "no-such-codec", TB), 640)
