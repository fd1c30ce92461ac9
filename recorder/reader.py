"""Reading recordings back (cf. MediaMTX internal/playback): packets of a camera between two
times, across segments and gaps, with their original timestamps, from verified files only."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import av.bitstream
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.errors import PantauError
from recorder.index import SegmentIndex
from recorder.models import Gap, Segment
from recorder.segment import META_KEY, SegmentMeta
from recorder.store import SegmentStore
from streams.packet import MediaPacket, StreamInfo

# MP4 stores H.264/H.265 length-prefixed (AVCC); the hub, RTP packetizers and WHEP carry
# Annex B, so the reader converts back and a consumer cannot tell live from recorded packets.
ANNEXB_FILTERS = {"h264": "h264_mp4toannexb", "hevc": "hevc_mp4toannexb"}

# Spans closer than this touch: segment times come from the same timestamps on both sides.
TOUCH = timedelta(milliseconds=1)


class SegmentCorrupt(PantauError):
    """A sealed segment's bytes do not match its indexed hash: it is not served."""

    status = 500
    kind = "recording-corrupt"
    title = "Recording failed verification"


@dataclass(frozen=True, slots=True)
class SegmentOpened:
    """Packets of this segment follow; `streams` carry the original indexes and time bases."""

    segment_id: int
    path: str
    start: datetime
    end: datetime
    sha256: str
    streams: tuple[StreamInfo, ...]
    bytes: int = 0  # the segment file's size: what was read to get its packets


@dataclass(frozen=True, slots=True)
class GapMarker:
    """No recording in [start, end); never skipped silently."""

    start: datetime
    end: datetime
    reason: str


ReadItem = SegmentOpened | GapMarker | MediaPacket


@dataclass(frozen=True, slots=True)
class _Loaded:
    streams: tuple[StreamInfo, ...]
    packets: list[MediaPacket]


def load_segment(data: bytes, start: datetime) -> _Loaded:
    """Demux a verified segment; packets get their original index, timestamps and UTC time."""
    with av.open(io.BytesIO(data), format="mp4") as container:
        meta = SegmentMeta.from_json(container.metadata.get(META_KEY))
        if meta is None:
            raise SegmentCorrupt("segment has no Pantau header")
        file_streams = list(container.streams)
        mapping: dict[int, tuple[int, Fraction, Fraction]] = {}
        infos: list[StreamInfo] = []
        for stream, (orig_index, kind, codec, orig_tb) in zip(file_streams, meta.streams, strict=False):
            ctx = stream.codec_context
            mapping[stream.index] = (orig_index, Fraction(stream.time_base), orig_tb)
            infos.append(StreamInfo(
                index=orig_index, kind="video" if kind == "video" else "audio", codec=codec, time_base=orig_tb,
                extradata=bytes(ctx.extradata) if ctx.extradata else None,
                width=ctx.width if kind == "video" else 0, height=ctx.height if kind == "video" else 0,
                sample_rate=getattr(ctx, "sample_rate", 0) if kind == "audio" else 0,
            ))
        origin_file = next((i for i, (o, _, _) in mapping.items() if o == meta.origin_stream), None)
        packets: list[MediaPacket] = []
        shift: Fraction | None = None  # original seconds minus file seconds
        first_pts_s: Fraction | None = None
        filters = {
            stream.index: av.bitstream.BitStreamFilterContext(ANNEXB_FILTERS[stream.codec_context.name], stream)
            for stream in file_streams if stream.codec_context.name in ANNEXB_FILTERS
        }
        raw: list[av.Packet] = []
        for packet in container.demux():
            if not packet.size or packet.dts is None:
                continue
            bsf = filters.get(packet.stream_index)
            raw += bsf.filter(packet) if bsf is not None else [packet]
        for p in raw:
            if p.stream_index == origin_file:
                ftb = mapping[p.stream_index][1]
                shift = meta.origin_dts * meta.origin_tb - p.dts * ftb
                break
        if shift is None:
            shift = Fraction(0)
        origin_pts = [p.pts for p in raw if p.stream_index == origin_file and p.pts is not None]
        if origin_pts and origin_file is not None:
            first_pts_s = min(origin_pts) * mapping[origin_file][1]
        # Per packet in integers: the file's ticks to the camera's, and seconds since the first
        # frame as a float, with the same results as the Fraction arithmetic they stand for.
        first = first_pts_s or Fraction(0)
        retime = {index: _Retime(orig_index, ftb, otb, shift, first)
                  for index, (orig_index, ftb, otb) in mapping.items()}
        now = time.monotonic()
        for p in raw:
            r = retime[p.stream_index]
            pts = p.pts if p.pts is not None else p.dts
            packets.append(MediaPacket(
                stream=r.orig_index,
                data=bytes(p),
                pts=r.original(pts),
                dts=r.original(p.dts),
                is_keyframe=p.is_keyframe,
                received=now,
                wallclock=(start + timedelta(seconds=(pts * r.mul - r.sub) / r.div)).timestamp(),
            ))
    return _Loaded(tuple(infos), packets)


class _Retime:
    """One stream's timestamps from file ticks (`ftb`) to the camera's (`otb`): round((ticks * ftb
    + shift) / otb), and seconds after `first` as (ticks * mul - sub) / div. Fraction arithmetic
    per packet cost about as much as demuxing the segment; when the time bases match and the
    shift is whole ticks (the recorder's own files), it is one integer addition."""

    __slots__ = ("orig_index", "scale", "offset", "step", "mul", "sub", "div")

    def __init__(self, orig_index: int, ftb: Fraction, otb: Fraction, shift: Fraction, first: Fraction) -> None:
        self.orig_index = orig_index
        self.scale, self.offset = ftb / otb, shift / otb
        self.step = self.offset.numerator if self.scale == 1 and self.offset.denominator == 1 else None
        # ticks * ftb - first == (ticks * ftb.num * first.den - first.num * ftb.den) / (ftb.den * first.den);
        # int / int is correctly rounded, as float(Fraction) is.
        self.mul = ftb.numerator * first.denominator
        self.sub = first.numerator * ftb.denominator
        self.div = ftb.denominator * first.denominator

    def original(self, ticks: int) -> int:
        if self.step is not None:
            return ticks + self.step
        return round(ticks * self.scale + self.offset)


def _load_verified(path: str, seg: Segment) -> _Loaded:
    """Read, verify and demux one segment in one worker-thread call (its bytes freed on return)."""
    return load_segment(read_verified(path, seg.sha256, seg.bytes), seg.start)


def read_verified(path: str, expected: str, size: int) -> bytes:
    """The file's bytes, only if they hash to the indexed value."""
    with open(path, "rb") as fh:
        data = fh.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected or len(data) != size:
        raise SegmentCorrupt(f"{path}: sha256 {digest} does not match the index ({expected})")
    return data


class SegmentOpener(Protocol):
    """Where a sealed segment's file is read from (recorder/objectcache.py SegmentFiles: local disk,
    or fetched back from the object store): the one place a reader opens a segment."""

    def opened(self, seg: Segment) -> AbstractAsyncContextManager[Path]: ...


class LocalFiles:
    """Segments on local disk only (no object storage)."""

    def __init__(self, store: SegmentStore) -> None:
        self._store = store

    @contextlib.asynccontextmanager
    async def opened(self, seg: Segment) -> AsyncIterator[Path]:
        yield self._store.absolute(seg.path)


class SegmentReader:
    """Yields a camera's recording between two times; reads sealed, verified segments only."""

    def __init__(
        self, db: async_sessionmaker[AsyncSession], store: SegmentStore,
        stream_of: Callable[[str], str] = lambda _camera: "main", files: SegmentOpener | None = None,
    ) -> None:
        self._index = SegmentIndex(db, _NoClock())
        self._files = files or LocalFiles(store)
        #: The stream read when none is named: the camera's main stream unless it records only its sub.
        self._stream_of = stream_of

    async def read(
        self, camera: str, start: datetime, end: datetime, stream: str | None = None
    ) -> AsyncGenerator[ReadItem, None]:
        """Segments and gaps of one of the camera's streams (`stream_of(camera)` unless named) in time
        order; the first segment starts at the keyframe at or before `start`."""
        stream = stream or self._stream_of(camera)
        segments = await self._index.segments(camera, start, end, stream)
        gaps = await self._index.gaps(camera, start, end, stream)
        cursor = start
        for seg in segments:
            if seg.start - cursor > TOUCH:
                yield GapMarker(cursor, seg.start, _reason(gaps, cursor, seg.start))
            async with self._files.opened(seg) as path:
                loaded = await asyncio.to_thread(_load_verified, str(path), seg)
            yield SegmentOpened(seg.id, seg.path, seg.start, seg.end, seg.sha256, loaded.streams, seg.bytes)
            # Hand the packets out one by one and keep none that was handed out: the next segment
            # is loaded while only this one's unread rest (usually nothing) is still held.
            window = deque(_window(loaded, seg, start, end))
            del loaded
            while window:
                yield window.popleft()
            cursor = max(cursor, seg.end)
        if end - cursor > TOUCH:
            yield GapMarker(cursor, end, _reason(gaps, cursor, end))


def _window(loaded: _Loaded, seg: Segment, start: datetime, end: datetime) -> list[MediaPacket]:
    video = {s.index for s in loaded.streams if s.kind == "video"}
    t_start, t_end = start.timestamp(), end.timestamp()
    first = 0
    for i, p in enumerate(loaded.packets):
        if p.wallclock > t_start:
            break
        if p.is_keyframe and (p.stream in video or not video):
            first = i
    return [p for p in loaded.packets[first:] if p.wallclock < t_end]


def _reason(gaps: list[Gap], start: datetime, end: datetime) -> str:
    reasons = [g.reason for g in gaps if g.start < end and (g.end is None or g.end > start)]
    return "; ".join(dict.fromkeys(reasons)) or "no recording"


class _NoClock:
    def now(self) -> datetime:  # the reader never writes
        raise RuntimeError("the reader does not write to the index")

    def monotonic(self) -> float:
        return time.monotonic()
