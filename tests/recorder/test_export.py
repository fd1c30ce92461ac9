"""Exports: the reader's packets of a window, cut to the frame and remuxed into fMP4/MP4 (no transcoding).

Real H.264 from libx264; every picture has its own grey level, so decoding the file tells
exactly which frames it holds.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from recorder import export_stream
from recorder.export import EXPORT_TAG, ExportFormat, StopReason, annexb_extradata
from recorder.export_spans import Span, spans
from recorder.export_stream import Export
from recorder.models import Segment
from recorder.reader import GapMarker, ReadItem, SegmentOpened
from streams.bitstream import avcc_to_annexb
from streams.packet import MediaPacket, StreamInfo

T0 = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
TB = Fraction(1, 90000)
FRAME_TICKS = 3600  # 25 fps
FRAME_S = 0.04


def grey(i: int) -> int:
    return 16 + (i * 9) % 220


def encode(count: int, gop: int, bframes: int = 0, size: tuple[int, int] = (96, 64)) -> list[MediaPacket]:
    """Annex B packets straight from libx264 (SPS/PPS in band), timed at 90 kHz from T0."""
    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt = size[0], size[1], "yuv420p"
    ctx.time_base = Fraction(1, 25)
    ctx.options = {"bf": str(bframes), "preset": "veryfast",
                   "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0"}
    encoded = []
    for i in range(count):
        frame = av.VideoFrame.from_ndarray(np.full((size[1], size[0], 3), grey(i), np.uint8), format="bgr24")
        frame.pts = i
        encoded += ctx.encode(frame)
    encoded += ctx.encode(None)
    return [
        MediaPacket(stream=0, data=bytes(p), pts=p.pts * FRAME_TICKS, dts=p.dts * FRAME_TICKS,
                    is_keyframe=p.is_keyframe, received=0.0, wallclock=T0.timestamp() + p.pts * FRAME_S)
        for p in encoded
    ]


def info(size: tuple[int, int] = (96, 64)) -> StreamInfo:
    return StreamInfo(index=0, kind="video", codec="h264", time_base=TB, width=size[0], height=size[1])


def segments(packets: list[MediaPacket], per_segment: int, streams: tuple[StreamInfo, ...]) -> list[ReadItem]:
    """Reader items: a SegmentOpened before every `per_segment` keyframes."""
    items: list[ReadItem] = []
    keyframes = 0
    for p in packets:
        if p.is_keyframe:
            if keyframes % per_segment == 0:
                at = datetime.fromtimestamp(p.wallclock, UTC)
                items.append(SegmentOpened(keyframes, "seg", at, at, "", streams))
            keyframes += 1
        items.append(p)
    return items


class Source:
    """The reader's interface over a fixed list of items; counts what was pulled."""

    def __init__(self, items: list[ReadItem]) -> None:
        self.items = items
        self.pulled = 0

    async def read(self, camera: str, start: datetime, end: datetime) -> AsyncGenerator[ReadItem, None]:
        for item in self.items:
            self.pulled += 1
            yield item


async def run(items: list[ReadItem], start: datetime, end: datetime, fmt: ExportFormat,
              tmp: Path) -> tuple[bytes, Export]:
    export = Export(Source(items), "gate", start, end, fmt, tmp)
    try:
        if not await export.prepare():
            return b"", export
        return b"".join([chunk async for chunk in export.chunks()]), export
    finally:
        await export.aclose()


def frames(data: bytes) -> tuple[dict[str, object], list[tuple[float, int, bool]]]:
    """The file's export tag and (time, grey level, keyframe) of every decoded frame."""
    with av.open(io.BytesIO(data)) as container:
        tag = json.loads(container.metadata["comment"])
        out = [(float(f.time), int(round(float(f.to_ndarray(format="gray").mean()))), f.key_frame)
               for f in container.decode(video=0)]
    return tag, out


def leftovers(directory: Path) -> list[Path]:
    return list(directory.iterdir()) if directory.exists() else []


def at(i: float) -> datetime:
    return T0 + timedelta(seconds=i * FRAME_S)


@pytest.mark.parametrize("fmt", list(ExportFormat))
@pytest.mark.parametrize(
    ("start", "end", "first", "last"),
    [
        (at(0), at(40), 0, 39),  # everything
        (at(1), at(40), 5, 39),  # just after a keyframe: starts at the next one
        (at(5), at(12), 5, 11),  # on a keyframe; end is exclusive
        (at(4.5), at(12.5), 5, 12),  # between frames: frame 12 starts before the end
        (at(3), at(27), 5, 26),  # across a segment boundary (every 2 GOPs)
        (at(-10), at(3), 0, 2),  # the window opens before the recording
    ],
)
async def test_export_holds_exactly_the_frames_of_the_window(
    tmp_path: Path, fmt: ExportFormat, start: datetime, end: datetime, first: int, last: int
) -> None:
    items = segments(encode(40, gop=5), per_segment=2, streams=(info(),))
    data, export = await run(items, start, end, fmt, tmp_path)
    tag, decoded = frames(data)
    assert [g for _, g, _ in decoded] == pytest.approx([grey(i) for i in range(first, last + 1)], abs=3)
    assert decoded[0][2], "the file opens on a keyframe"
    assert [t for t, _, _ in decoded] == pytest.approx([(i - first) * FRAME_S for i in range(first, last + 1)])
    assert tag == {"tag": EXPORT_TAG, "camera": "gate", "start": at(first).isoformat().replace("+00:00", "Z")}
    assert export.written_range() == (at(first), min(end, at(last + 1)))
    assert export.cut.frames == last - first + 1
    assert data[4:8] == b"ftyp"
    if fmt is ExportFormat.MP4:
        assert data.index(b"moov") < data.index(b"mdat"), "progressive: the index comes first"
        assert export.size == len(data)
        assert not leftovers(tmp_path), "the staging file is gone"
    else:
        assert b"moof" in data and export.size is None


@pytest.mark.parametrize("fmt", list(ExportFormat))
async def test_a_gap_ends_the_file_and_a_gap_before_the_first_frame_is_skipped(
    tmp_path: Path, fmt: ExportFormat
) -> None:
    packets = encode(40, gop=5)
    before, after = segments(packets[:15], 10, (info(),)), segments(packets[25:], 10, (info(),))
    items = [GapMarker(at(-5), at(0), "camera offline"), *before, GapMarker(at(15), at(25), "camera offline"), *after]
    data, export = await run(items, at(-5), at(40), fmt, tmp_path)
    _, decoded = frames(data)
    assert [g for _, g, _ in decoded] == pytest.approx([grey(i) for i in range(15)], abs=3)
    assert export.stop is StopReason.GAP
    assert export.written_range() == (at(0), at(15))


async def test_stream_parameters_changing_end_the_file(tmp_path: Path) -> None:
    small, large = encode(10, gop=5), encode(10, gop=5, size=(128, 96))
    shifted = [MediaPacket(p.stream, p.data, p.pts + 10 * FRAME_TICKS, p.dts + 10 * FRAME_TICKS,  # type: ignore[operator]
                           p.is_keyframe, 0.0, p.wallclock + 10 * FRAME_S) for p in large]
    items = segments(small, 10, (info(),)) + segments(shifted, 10, (info((128, 96)),))
    data, export = await run(items, at(0), at(20), ExportFormat.FMP4, tmp_path)
    assert len(frames(data)[1]) == 10 and export.stop is StopReason.STREAMS_CHANGED


async def test_a_camera_clock_restart_between_touching_segments_keeps_the_file_continuous(tmp_path: Path) -> None:
    """Segments touch across a reconnect whose camera timestamps start again at 0: the file is
    placed by wall clock, so its time runs on without a jump back."""
    packets = encode(20, gop=5)
    restarted = [MediaPacket(p.stream, p.data, p.pts - 10 * FRAME_TICKS, p.dts - 10 * FRAME_TICKS,  # type: ignore[operator]
                             p.is_keyframe, 0.0, p.wallclock) for p in packets[10:]]
    items = segments(packets[:10], 10, (info(),)) + segments(restarted, 10, (info(),))
    data, _ = await run(items, at(0), at(20), ExportFormat.MP4, tmp_path)
    _, decoded = frames(data)
    assert [t for t, _, _ in decoded] == pytest.approx([i * FRAME_S for i in range(20)])


@pytest.mark.parametrize("fmt", list(ExportFormat))
async def test_b_frames_decode_and_stay_inside_the_window(tmp_path: Path, fmt: ExportFormat) -> None:
    items = segments(encode(40, gop=10, bframes=2), per_segment=1, streams=(info(),))
    data, export = await run(items, at(3), at(33), fmt, tmp_path)
    _, decoded = frames(data)
    tag_start = at(10)
    assert export.written_range() is not None and export.written_range()[0] == tag_start  # type: ignore[index]
    # Every decoded frame is one of the window's, in order, none outside [start, end).
    # The tag dates the first frame; with B-frames a container may place it after t=0.
    origin = decoded[0][0]
    shown = [round((tag_start - T0).total_seconds() / FRAME_S + (t - origin) / FRAME_S) for t, _, _ in decoded]
    assert shown == sorted(shown) and min(shown) == 10 and max(shown) < 33
    assert [g for _, g, _ in decoded] == pytest.approx([grey(i) for i in shown], abs=3)
    assert len(decoded) == export.cut.frames


async def test_nothing_to_export_when_the_window_holds_no_keyframe(tmp_path: Path) -> None:
    items = segments(encode(10, gop=5), 10, (info(),))
    data, export = await run(items, at(6), at(9), ExportFormat.FMP4, tmp_path)
    assert data == b"" and export.written_range() is None


async def test_the_export_reads_no_further_ahead_than_its_consumer_takes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow client slows the read instead of filling a buffer."""
    monkeypatch.setattr(export_stream, "BATCH_BYTES", 1)  # one packet per batch
    items = segments(encode(100, gop=5), per_segment=1, streams=(info(),))
    source = Source(items)
    export = Export(source, "gate", at(0), at(100), ExportFormat.FMP4, tmp_path)
    try:
        assert await export.prepare()
        chunks = export.chunks()
        await anext(chunks)
        taken = source.pulled
        assert taken < 10, taken
        rest = [chunk async for chunk in chunks]
        assert rest and source.pulled == len(items)
    finally:
        await export.aclose()


async def test_aclose_mid_export_releases_the_reader(tmp_path: Path) -> None:
    closed: list[bool] = []

    class Tracking(Source):
        async def read(self, camera: str, start: datetime, end: datetime) -> AsyncGenerator[ReadItem, None]:
            try:
                for item in self.items:
                    yield item
            finally:
                closed.append(True)

    export = Export(Tracking(segments(encode(40, gop=5), 1, (info(),))), "gate", at(0), at(40),
                    ExportFormat.MP4, tmp_path)
    assert await export.prepare()
    await export.aclose()
    assert closed == [True] and not leftovers(tmp_path)


def test_avcc_parameter_sets_become_annex_b() -> None:
    sps, pps = bytes.fromhex("6764000aacb4"), bytes.fromhex("68ebe3cb")
    avcc = bytes([1, 0x64, 0, 0x0A, 0xFF, 0xE1]) + len(sps).to_bytes(2, "big") + sps + bytes([1]) \
        + len(pps).to_bytes(2, "big") + pps
    assert avcc_to_annexb(avcc) == b"\x00\x00\x00\x01" + sps + b"\x00\x00\x00\x01" + pps
    assert avcc_to_annexb(avcc[:-2]) is None
    with_avcc = StreamInfo(0, "video", "h264", TB, extradata=avcc, width=96, height=64)
    assert annexb_extradata(with_avcc, None) == avcc_to_annexb(avcc)
    first = encode(1, gop=1)[0]
    assert annexb_extradata(with_avcc, first) is not None
    assert annexb_extradata(with_avcc, first).startswith(b"\x00\x00\x00\x01\x67")  # type: ignore[union-attr]


def _seg(start_s: float, end_s: float, width: int = 640) -> Segment:
    return Segment(camera_id="gate", start=T0 + timedelta(seconds=start_s), end=T0 + timedelta(seconds=end_s),
                   codec="h264", width=width, height=360, audio_codec=None)


def _span(start_s: float, end_s: float) -> Span:
    return Span(T0 + timedelta(seconds=start_s), T0 + timedelta(seconds=end_s))


@pytest.mark.parametrize(
    ("segs", "start", "end", "expected"),
    [
        ([], None, None, []),
        ([(0, 2), (2, 4), (4, 6)], None, None, [(0, 6)]),  # touching segments merge
        ([(0, 2), (2.0005, 4)], None, None, [(0, 4)]),  # within a millisecond: touching
        ([(0, 2), (2, 4), (7, 9), (9, 11)], None, None, [(0, 4), (7, 11)]),  # a gap splits
        ([(0, 2), (2, 4), (7, 9)], 1, 8, [(1, 4), (7, 8)]),  # clipped to [start, end]
        ([(0, 2), (2, 4), (7, 9)], 4, 7, []),  # only the gap
        ([(0, 2), (2, 4)], 3, None, [(3, 4)]),
        ([(0, 2), (2, 4)], None, 1, [(0, 1)]),
    ],
)
def test_spans_merge_touching_segments_split_at_gaps_and_clip(
    segs: list[tuple[float, float]], start: float | None, end: float | None, expected: list[tuple[float, float]]
) -> None:
    found = spans([_seg(s, e) for s, e in segs], None if start is None else T0 + timedelta(seconds=start),
                  None if end is None else T0 + timedelta(seconds=end))
    assert found == [_span(s, e) for s, e in expected]


def test_spans_split_where_the_picture_size_changes() -> None:
    assert spans([_seg(0, 2), _seg(2, 4, width=1280)]) == [_span(0, 2), _span(2, 4)]


def aac(start_s: float, count: int) -> tuple[StreamInfo, list[MediaPacket]]:
    """AAC packets (1024 samples at 48 kHz each) from T0 + start_s, as stream 1."""
    ctx = av.CodecContext.create("aac", "w")
    ctx.sample_rate, ctx.layout, ctx.format, ctx.time_base = 48000, "mono", "fltp", Fraction(1, 48000)
    ctx.open()
    encoded = []
    for i in range(count):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 48000, i * 1024
        encoded += ctx.encode(frame)
    info = StreamInfo(index=1, kind="audio", codec="aac", time_base=Fraction(1, 48000),
                      extradata=bytes(ctx.extradata), sample_rate=48000, channels=1)
    packets = [MediaPacket(stream=1, data=bytes(p), pts=p.pts, dts=p.dts, is_keyframe=True, received=0.0,
                           wallclock=T0.timestamp() + start_s + p.pts / 48000) for p in encoded]
    return info, packets


@pytest.mark.parametrize("fmt", list(ExportFormat))
async def test_audio_goes_along_inside_the_window(tmp_path: Path, fmt: ExportFormat) -> None:
    video = encode(40, gop=5)
    audio_info, audio = aac(-0.3, 100)
    packets = sorted(video + audio, key=lambda p: p.wallclock)
    items = segments(packets, per_segment=2, streams=(info(), audio_info))
    start, end = at(3), at(27)
    data, export = await run(items, start, end, fmt, tmp_path)
    first, stop = at(5).timestamp(), end.timestamp()
    expected = [p for p in audio if first <= p.wallclock < stop]
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        assert (stream.codec_context.name, stream.codec_context.sample_rate) == ("aac", 48000)
        times = [float(p.pts * p.time_base) for p in container.demux(stream) if p.size]
    # Every audio packet of [first keyframe, end) and no other, in sync with the video.
    assert len(times) == len(expected)
    assert times[0] == pytest.approx(expected[0].wallclock - first, abs=1e-3)
    assert max(times) < stop - first
    assert export.cut.frames == 22
