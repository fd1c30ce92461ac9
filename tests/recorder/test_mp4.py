"""recorder.mp4: which streams go into MP4, and a track added from a StreamInfo (read back with PyAV)."""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np
import pytest

from recorder.mp4 import MOVFLAGS, add_stream, recordable
from streams.packet import StreamInfo
from tests.streams.h264 import encode

TB = Fraction(1, 90000)


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        (StreamInfo(0, "video", "h264", TB, width=96, height=64), True),
        (StreamInfo(0, "video", "hevc", TB, width=96, height=64), True),
        (StreamInfo(1, "audio", "aac", Fraction(1, 8000), sample_rate=8000, channels=1), True),
        (StreamInfo(1, "audio", "opus", Fraction(1, 48000), sample_rate=48000, channels=1), True),
        # G.711 has an MP4 mapping in FFmpeg but players do not know it: left out.
        (StreamInfo(1, "audio", "pcm_mulaw", Fraction(1, 8000), sample_rate=8000, channels=1), False),
        (StreamInfo(0, "video", "no-such-codec", TB), False),
    ],
)
def test_recordable(info: StreamInfo, expected: bool) -> None:
    assert recordable(info) is expected


def test_add_stream_copies_the_stream_info_into_the_track() -> None:
    info, packets = encode([np.full((64, 96, 3), 30 * i, np.uint8) for i in range(5)], container="mp4")
    assert info.extradata is not None
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4", options={"movflags": MOVFLAGS}) as out:
        assert add_stream(out, StreamInfo(1, "video", "no-such-codec", TB), None) is None
        stream = add_stream(out, info, info.extradata)
        assert stream is not None
        for p in packets:
            packet = av.Packet(p.data)
            packet.pts, packet.dts, packet.is_keyframe = p.pts, p.dts, p.is_keyframe
            packet.time_base, packet.stream = info.time_base, stream
            out.mux(packet)
    buf.seek(0)
    with av.open(buf) as src:
        (video,) = src.streams
        ctx = video.codec_context
        assert (ctx.name, ctx.width, ctx.height) == ("h264", 96, 64)
        assert bytes(ctx.extradata) == info.extradata
        assert sum(1 for p in src.demux(video) if p.size) == len(packets)
