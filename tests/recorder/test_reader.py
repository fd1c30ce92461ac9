"""recorder.reader: a segment written by the recorder's muxer (real libx264 and AAC packets, the
segments' MP4 options) comes back with every packet's original timestamps, picture and sound alike:
the sound where the camera put it beside the picture, also when it starts before or after the
segment's keyframe and when the picture has B-frames. (Written without the edit lists, the first
fragment's sound came back up to its start offset early or late; with edit lists in milliseconds,
a start between two milliseconds came back a few samples off.)"""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from recorder.muxer import SegmentMuxer
from recorder.reader import load_segment
from recorder.store import SegmentStore
from streams.packet import MediaPacket, StreamInfo
from tests.streams.h264 import encode

RATE = 16_000
VIDEO_TB, AUDIO_TB = Fraction(1, 90_000), Fraction(1, RATE)
FRAME_TICKS = 3600  # 25 fps at 90 kHz
# The camera's clock when the segment's keyframe was taken: far from 0, as a camera's is.
ORIGIN_S = 4321


def aac(frames: int) -> tuple[bytes, list[bytes]]:
    """AAC extradata and `frames` packets of 1024 samples (PyAV's encoder)."""
    encoder = av.CodecContext.create("aac", "w")
    encoder.sample_rate, encoder.layout, encoder.format = RATE, "mono", "fltp"
    encoder.time_base = AUDIO_TB
    packets: list[bytes] = []
    for i in range(frames):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = RATE, i * 1024
        packets += [bytes(p) for p in encoder.encode(frame)]
    packets += [bytes(p) for p in encoder.encode(None)]
    return bytes(encoder.extradata), packets[:frames]


@pytest.mark.parametrize("bframes", [0, 2])
@pytest.mark.parametrize("sound_after_s", [-0.03, 0.0, 0.0333, 0.064, 0.1])
def test_picture_and_sound_come_back_at_the_cameras_times(tmp_path: Path, bframes: int, sound_after_s: float) -> None:
    encoded, frames = encode([np.full((64, 96, 3), 5 * i, np.uint8) for i in range(50)], gop=50, bframes=bframes)
    video = dataclasses.replace(encoded, time_base=VIDEO_TB)  # the camera's 90 kHz clock
    extradata, sound = aac(60)
    audio = StreamInfo(1, "audio", "aac", AUDIO_TB, extradata=extradata, sample_rate=RATE, channels=1)
    first_dts = frames[0].dts
    assert first_dts is not None
    wrote: list[MediaPacket] = []
    for p in frames:
        assert p.pts is not None and p.dts is not None
        ticks = ORIGIN_S * 90_000 + (p.dts - first_dts) * FRAME_TICKS
        wrote.append(MediaPacket(0, p.data, ticks + (p.pts - p.dts) * FRAME_TICKS, ticks, p.is_keyframe, 0.0, 0.0))
    # The sound starts `sound_after_s` after the keyframe is shown (its pts: later than its dts with B-frames).
    sound_start = round((wrote[0].pts * VIDEO_TB + Fraction(sound_after_s)) * RATE)  # type: ignore[operator]
    wrote += [MediaPacket(1, data, sound_start + 1024 * i, sound_start + 1024 * i, True, 0.0, 0.0)
              for i, data in enumerate(sound)]
    # In decode order across the streams, as the recorder's thread muxes them.
    wrote.sort(key=lambda p: p.dts * (VIDEO_TB if p.stream == 0 else AUDIO_TB))  # type: ignore[operator]
    keyframe = next(p for p in wrote if p.stream == 0)
    start = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    store = SegmentStore(tmp_path)
    muxer = SegmentMuxer(store, "cam", (video, audio), start, None, keyframe, keyframe.dts)  # type: ignore[arg-type]
    for p in wrote:
        muxer.write(p, p.pts, p.dts)  # type: ignore[arg-type]
    sealed = muxer.seal(start + timedelta(seconds=2), 0.0, time.monotonic())

    loaded = load_segment(store.absolute(sealed.path).read_bytes(), start)

    for stream in (0, 1):
        got = [(p.pts, p.dts) for p in loaded.packets if p.stream == stream]
        assert got == [(p.pts, p.dts) for p in wrote if p.stream == stream], f"stream {stream}"
    # Seconds after the segment's first picture: the sound's first packet where the camera put it.
    pictures = [p for p in loaded.packets if p.stream == 0]
    heard = next(p for p in loaded.packets if p.stream == 1)
    assert heard.wallclock - min(p.wallclock for p in pictures) == pytest.approx(sound_after_s, abs=1 / RATE)
