"""recorder.fragments: a segment the recorder's muxer wrote (real libx264/libx265 and AAC packets,
the segments' MP4 options) walked by its headers gives what PyAV's demux of the same bytes gives:
the same keyframes (pts, sample bytes), the same first picture of the origin stream, and so the
same thumbnail times; bytes that do not hash to the index never get parsed; broken boxes raise
FragmentError, never anything else."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import time
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from recorder.fragments import FragmentError, SegmentBuffer, scan
from recorder.muxer import SegmentMuxer
from recorder.reader import SegmentCorrupt
from recorder.store import SegmentStore
from recorder.thumbnails import _Opened, _Walked
from streams.packet import MediaPacket, StreamInfo
from tests.fastrecording import encode as encode_camera
from tests.recorder.test_reader import AUDIO_TB, RATE, aac
from tests.streams.h264 import encode

VIDEO_TB = Fraction(1, 90_000)
FRAME_TICKS = 3600  # 25 fps at 90 kHz
ORIGIN_TICKS = 4321 * 90_000  # a camera's clock is far from 0
START = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def h264(frames: int, gop: int, bframes: int) -> tuple[StreamInfo, list[MediaPacket]]:
    """libx264 pictures at the camera's 90 kHz clock, in decode order."""
    encoded, packets = encode([np.full((64, 96, 3), (7 * i) % 250, np.uint8) for i in range(frames)],
                              gop=gop, bframes=bframes)
    first = packets[0].dts
    assert first is not None
    out = []
    for p in packets:
        assert p.pts is not None and p.dts is not None
        ticks = ORIGIN_TICKS + (p.dts - first) * FRAME_TICKS
        out.append(MediaPacket(0, p.data, ticks + (p.pts - p.dts) * FRAME_TICKS, ticks, p.is_keyframe, 0.0, 0.0))
    return dataclasses.replace(encoded, time_base=VIDEO_TB), out


def hevc(seconds: float) -> tuple[StreamInfo, list[MediaPacket]]:
    """libx265 as a camera sends it (Annex B, parameter sets in band), a keyframe a second."""
    encoded = encode_camera(seconds, 10, (96, 64), 1.0, False, "hevc")
    return encoded.info, [MediaPacket(0, d, ORIGIN_TICKS + pts, ORIGIN_TICKS + dts, key, 0.0, 0.0)
                          for d, pts, dts, key in encoded.packets]


def write(tmp_path: Path, video: tuple[StreamInfo, list[MediaPacket]] | None, sound_after_s: float | None) -> Path:
    """A sealed segment from the recorder's own muxer: video and/or AAC sound starting
    `sound_after_s` after the first picture."""
    infos: list[StreamInfo] = []
    wrote: list[MediaPacket] = []
    if video is not None:
        infos.append(video[0])
        wrote += video[1]
    if sound_after_s is not None:
        extradata, sound = aac(75)
        audio = StreamInfo(1, "audio", "aac", AUDIO_TB, extradata=extradata, sample_rate=RATE, channels=1)
        infos.append(audio)
        first_picture = min(_ticks(p.pts) for p in wrote) * VIDEO_TB if wrote else Fraction(ORIGIN_TICKS, 90_000)
        sound_start = round((first_picture + Fraction(sound_after_s)) * RATE)
        wrote += [MediaPacket(1, data, sound_start + 1024 * i, sound_start + 1024 * i, True, 0.0, 0.0)
                  for i, data in enumerate(sound)]
    tbs = {0: VIDEO_TB, 1: AUDIO_TB}
    wrote.sort(key=lambda p: _ticks(p.dts) * tbs[p.stream])  # in decode order across the streams, as the recorder muxes
    first = next(p for p in wrote if p.stream == infos[0].index)
    muxer = SegmentMuxer(SegmentStore(tmp_path), "cam", tuple(infos), START, None, first, _ticks(first.dts))
    for p in wrote:
        muxer.write(p, _ticks(p.pts), _ticks(p.dts))
    sealed = muxer.seal(START + timedelta(seconds=3), 0.0, time.monotonic())
    return SegmentStore(tmp_path).absolute(sealed.path)


def _ticks(value: int | None) -> int:
    assert value is not None  # every packet here has its times
    return value


def demuxed(data: bytes) -> tuple[list[tuple[int, bytes]], Fraction | None]:
    """PyAV's view: (pts, bytes) of each video keyframe in file order; least pts (s) of the first stream."""
    keys: list[tuple[int, bytes]] = []
    first: Fraction | None = None
    with av.open(io.BytesIO(data), format="mp4") as container:
        origin = container.streams[0]
        for packet in container.demux():
            if not packet.size or packet.dts is None:
                continue
            if packet.stream_index == origin.index and packet.pts is not None:
                seconds = packet.pts * Fraction(origin.time_base)
                first = seconds if first is None else min(first, seconds)
            if packet.stream.type == "video" and packet.is_keyframe:
                keys.append((packet.pts, bytes(packet)))
    return keys, first


CASES = {
    "h264, B-frames, sound after": (lambda: h264(75, 10, 2), 0.064),
    "h264, B-frames, sound before": (lambda: h264(75, 10, 2), -0.03),
    "h264, no B-frames, sound with": (lambda: h264(75, 25, 0), 0.0),
    "h264, one GOP, no sound": (lambda: h264(50, 50, 2), None),
    "hevc, no sound": (lambda: hevc(3.0), None),
    "hevc, sound after": (lambda: hevc(3.0), 0.1),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_walk_finds_what_pyav_demuxes(tmp_path: Path, case: str) -> None:
    make, sound = CASES[case]
    path = write(tmp_path, make(), sound)
    raw = path.read_bytes()
    view = SegmentBuffer().read_verified(str(path), hashlib.sha256(raw).hexdigest(), len(raw))
    found = scan(view)

    keys, first = demuxed(raw)
    assert len(keys) >= (1 if "one GOP" in case else 2), "a keyframe per fragment"
    assert [(k.pts, bytes(view[k.offset:k.offset + k.size])) for k in found.keyframes] == keys
    assert found.origin_first == first
    assert found.codec == ("hevc" if case.startswith("hevc") else "h264")
    with av.open(io.BytesIO(raw), format="mp4") as container:
        ctx = container.streams.video[0].codec_context
        assert (found.extradata, found.width, found.height) == (bytes(ctx.extradata), ctx.width, ctx.height)
    # The thumbnails' keyframe times, seconds after the segment's first picture: identical.
    walked, opened = _Walked(view, found), _Opened(raw)
    assert walked.keyframes == opened.keyframes
    pts = walked.keyframes.pts[-1]
    assert walked.jpeg(pts, 48) == opened.jpeg(pts, 48) is not None


def test_a_segment_with_sound_only_has_no_keyframes(tmp_path: Path) -> None:
    path = write(tmp_path, None, 0.0)
    raw = path.read_bytes()
    found = scan(memoryview(raw))
    assert found.keyframes == [] and found.codec == ""
    assert found.origin_first == demuxed(raw)[1] is not None
    assert found.meta.camera == "cam"


def test_only_bytes_that_hash_to_the_index_come_back(tmp_path: Path) -> None:
    small = write(tmp_path / "a", h264(25, 5, 0), None)
    large = write(tmp_path / "b", h264(75, 5, 0), 0.0)
    buffer = SegmentBuffer()
    for path in (small, large, small):  # the buffer grows, and is reused
        raw = path.read_bytes()
        assert bytes(buffer.read_verified(str(path), hashlib.sha256(raw).hexdigest(), len(raw))) == raw
    raw = large.read_bytes()
    with pytest.raises(SegmentCorrupt, match="does not match"):
        buffer.read_verified(str(large), hashlib.sha256(raw[:-1] + b"\0").hexdigest(), len(raw))
    with pytest.raises(SegmentCorrupt, match="the index says"):
        buffer.read_verified(str(large), hashlib.sha256(raw).hexdigest(), len(raw) - 1)


def test_broken_boxes_raise_fragment_error(tmp_path: Path) -> None:
    raw = write(tmp_path, h264(50, 10, 2), 0.05).read_bytes()
    # Cut anywhere: a prefix is either still whole up to a box, or an error we name.
    for cut in range(0, len(raw), max(1, len(raw) // 300)):
        try:
            scan(memoryview(raw[:cut]))
        except (FragmentError, SegmentCorrupt):
            pass
    # A moof's trun claiming more samples than it holds; a box larger than the file.
    moof = raw.index(b"moof") - 4
    trun = raw.index(b"trun", moof) - 4
    broken = bytearray(raw)
    broken[trun + 12:trun + 16] = (10**6).to_bytes(4, "big")
    with pytest.raises(FragmentError, match="trun"):
        scan(memoryview(bytes(broken)))
    broken = bytearray(raw)
    broken[moof:moof + 4] = (len(raw)).to_bytes(4, "big")
    with pytest.raises(FragmentError, match="runs past"):
        scan(memoryview(bytes(broken)))
