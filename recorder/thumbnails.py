"""Keyframe thumbnails of sealed segments: what the recordings page's strip and hover preview show.

For N evenly spaced instants of a range, the keyframe at or before each instant in the segment that
covers it (segments start with a keyframe, so there always is one), each distinct keyframe decoded
once, shrunk to a small width and kept as a JPEG in a disk cache (recorder/thumbcache.py). A
segment is read only from verified bytes (the same check as the playback reader), decoded
keyframes only (no picture that needs another), and nothing is ever written next to it: the
recordings stay as sealed. An instant in a gap is stood for by the recording nearest it within its
slot, and a slot without recording gets no thumbnail rather than one from before it.

The keyframe list of a segment is cached too, so a second request for the same pictures reads
neither the segment nor the decoder.

Cold, a segment costs one read into a reused buffer, its SHA-256 over those same bytes, a walk over
its fragment headers for the keyframes (recorder/fragments.py; no demuxer) and one decode per
picked keyframe on a bare codec context. A segment whose boxes the walk does not understand is
demuxed with PyAV from the same verified bytes instead.
"""

from __future__ import annotations

import asyncio
import bisect
import io
import json
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

import av
import av.error
import cv2

from recorder.fragments import FragmentError, Scanned, SegmentBuffer, scan
from recorder.index import SegmentIndex
from recorder.models import Segment
from recorder.objectcache import SegmentUnavailable
from recorder.reader import SegmentCorrupt
from recorder.segment import META_KEY, SegmentMeta
from recorder.store import SegmentStore
from recorder.thumbcache import ThumbnailCache
from streams.keyframe import KeyframeDecoder
from streams.packet import MediaPacket, StreamInfo

log = logging.getLogger(__name__)

#: Pixels across: a strip thumbnail on the page is about 80 px wide, sharp on a 2x screen.
THUMB_WIDTH = 160
#: Most thumbnails one request may ask for (a strip 9600 px wide at one per 80 px).
MAX_COUNT = 120
JPEG_QUALITY = 75
#: Requests decoding at once; more wait (each takes a core while it decodes).
PARALLEL = 2


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """One keyframe's picture: when it was taken (UTC, as the playback reader times it) and where."""

    at: datetime
    segment_id: int
    jpeg: bytes


@dataclass(slots=True)
class ThumbnailSet:
    """The thumbnails of a range in time order, and the segments left out (failed verification,
    gone, or not decodable), by id."""

    thumbnails: list[Thumbnail] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)
    decoded: int = 0  # keyframes decoded for this answer (0: all from the cache)


@dataclass(frozen=True, slots=True)
class Keyframes:
    """A segment's keyframes: pts in the file's video time base, and seconds after the segment's start."""

    pts: tuple[int, ...]
    offsets: tuple[float, ...]

    def at_or_before(self, seconds: float) -> int:
        """Index of the last keyframe at or before `seconds` into the segment (the first if none is)."""
        return max(0, bisect.bisect_right(self.offsets, seconds) - 1)

    def to_json(self) -> bytes:
        return json.dumps({"pts": self.pts, "offsets": self.offsets}).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Keyframes | None:
        try:
            raw = json.loads(data)
            pts, offsets = tuple(int(p) for p in raw["pts"]), tuple(float(o) for o in raw["offsets"])
        except (ValueError, KeyError, TypeError):
            return None
        return cls(pts, offsets) if pts and len(pts) == len(offsets) else None


def instants(start: datetime, end: datetime, count: int) -> list[datetime]:
    """The middles of `count` equal slots of [start, end): each thumbnail stands for its slot."""
    step = (end - start) / count
    return [start + step * i + step / 2 for i in range(count)]


class _Opened:
    """A verified segment's video keyframes, demuxed with PyAV (segments recorder/fragments.py does not
    understand), decoded on demand."""

    def __init__(self, data: bytes) -> None:
        self.keyframes = Keyframes((), ())
        self._packets: dict[int, bytes] = {}
        self._info: StreamInfo | None = None
        with av.open(io.BytesIO(data), format="mp4") as container:
            meta = SegmentMeta.from_json(container.metadata.get(META_KEY))
            if meta is None:
                raise SegmentCorrupt("segment has no Pantau header")
            if not container.streams.video:
                return
            video = container.streams.video[0]
            ctx = video.codec_context
            self._info = StreamInfo(index=video.index, kind="video", codec=ctx.name, time_base=Fraction(video.time_base),
                                    extradata=bytes(ctx.extradata) if ctx.extradata else None,
                                    width=ctx.width, height=ctx.height)
            # Times as the playback reader gives them (recorder/reader.py load_segment): the segment's
            # start plus the time since the first picture of the stream its header names as origin.
            origin = next((s for s, (orig, _, _, _) in zip(container.streams, meta.streams, strict=False)
                           if orig == meta.origin_stream), None)
            first: Fraction | None = None
            keys: list[int] = []
            wanted = [video] if origin is None or origin.index == video.index else [video, origin]
            for packet in container.demux(*wanted):
                if not packet.size or packet.dts is None:
                    continue
                pts = packet.pts if packet.pts is not None else packet.dts
                if origin is not None and packet.stream_index == origin.index and packet.pts is not None:
                    seconds = packet.pts * Fraction(origin.time_base)
                    first = seconds if first is None else min(first, seconds)
                if packet.stream_index == video.index and packet.is_keyframe and pts not in self._packets:
                    keys.append(pts)
                    self._packets[pts] = bytes(packet)
        keys.sort()
        tb, zero = Fraction(video.time_base), first or Fraction(0)
        self.keyframes = Keyframes(tuple(keys), tuple(float(p * tb - zero) for p in keys))

    def jpeg(self, pts: int, width: int) -> bytes | None:
        """The keyframe at `pts` shrunk to `width` pixels across, as a JPEG; None if it does not decode."""
        if self._info is None or pts not in self._packets:
            return None
        decoder = KeyframeDecoder(self._info)
        try:
            return _jpeg(decoder, self._info.index, self._packets[pts], pts, width)
        finally:
            decoder.close()


class _Walked:
    """A verified segment's video keyframes from its fragment headers (recorder/fragments.py); each
    picked one decoded from its sample's bytes with one codec context per segment."""

    def __init__(self, data: memoryview, found: Scanned) -> None:
        self._data = data
        self._samples: dict[int, tuple[int, int]] = {}
        for key in found.keyframes:
            self._samples.setdefault(key.pts, (key.offset, key.size))
        pts = sorted(self._samples)
        tb, zero = found.time_base, found.origin_first or Fraction(0)
        self.keyframes = Keyframes(tuple(pts), tuple(float(p * tb - zero) for p in pts))
        self._info = StreamInfo(index=0, kind="video", codec=found.codec, time_base=tb,
                                extradata=found.extradata or None, width=found.width, height=found.height)
        self._decoder: KeyframeDecoder | None = None

    def jpeg(self, pts: int, width: int) -> bytes | None:
        """The keyframe at `pts` shrunk to `width` pixels across, as a JPEG; None if it does not decode."""
        if pts not in self._samples:
            return None
        offset, size = self._samples[pts]
        if self._decoder is None:
            self._decoder = KeyframeDecoder(self._info)
        return _jpeg(self._decoder, 0, bytes(self._data[offset:offset + size]), pts, width)


def _jpeg(decoder: KeyframeDecoder, index: int, data: bytes, pts: int, width: int) -> bytes | None:
    frame = decoder.decode(MediaPacket(index, data, pts, pts, True, 0.0, 0.0))
    if frame is None:
        return None
    height = max(2, round(width * frame.height / frame.width / 2) * 2)
    small = frame.reformat(width=width, height=height, format="bgr24", interpolation="AREA")
    ok, encoded = cv2.imencode(".jpg", small.to_ndarray(format="bgr24"), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return bytes(encoded) if ok else None


class Thumbnails:
    """Thumbnails of a camera's recordings, made from sealed segments on demand and cached on disk."""

    def __init__(self, index: SegmentIndex, store: SegmentStore, cache: ThumbnailCache,
                 width: int = THUMB_WIDTH, parallel: int = PARALLEL,
                 fetch: Callable[[Segment], Coroutine[Any, Any, None]] | None = None) -> None:
        self._index = index
        self._store = store
        #: storage.object: puts a segment that is not on local disk back there (recorder/objectcache.py).
        self._fetch = fetch
        self._loop: asyncio.AbstractEventLoop | None = None
        self.cache = cache
        self.width = width
        self._slots = asyncio.Semaphore(parallel)
        #: Keyframes decoded since start (all requests).
        self.decoded = 0

    async def make(self, camera: str, start: datetime, end: datetime, count: int, stream: str = "main") -> ThumbnailSet:
        """Up to `count` thumbnails of [start, end), one per evenly spaced instant that a segment covers."""
        if not 1 <= count <= MAX_COUNT:
            raise ValueError(f"count must be between 1 and {MAX_COUNT}")
        segments = await self._index.segments(camera, start, end, stream)
        points = instants(start, end, count)
        self._loop = asyncio.get_running_loop()
        async with self._slots:
            made = await asyncio.to_thread(self._make, camera, segments, points)
        self.decoded += made.decoded
        return made

    def _make(self, camera: str, segments: Sequence[Segment], points: Sequence[datetime]) -> ThumbnailSet:
        """In a worker thread: reads the cache and, for what it lacks, verified segments."""
        per_segment: dict[int, list[datetime]] = {}
        half = (points[1] - points[0]) / 2 if len(points) > 1 else None
        for at in points:
            seg = _covering(segments, at)
            if seg is None and half is not None:
                # The slot's middle lies in a gap: the recording nearest it within the slot stands
                # for the slot (a short recording in a wide view still gets its picture).
                seg, at = _nearest_in_slot(segments, at, half)
            if seg is not None:
                per_segment.setdefault(seg.id, []).append(at)
        out = ThumbnailSet()
        buffer = SegmentBuffer()  # one per request: reused segment after segment in this thread
        for seg in segments:
            if seg.id in per_segment:
                try:
                    self._segment(camera, seg, per_segment[seg.id], out, buffer)
                except (SegmentCorrupt, SegmentUnavailable, FileNotFoundError, av.error.FFmpegError) as exc:
                    reason = "failed verification" if isinstance(exc, SegmentCorrupt) else \
                        "missing" if isinstance(exc, (FileNotFoundError, SegmentUnavailable)) else "not readable"
                    log.warning("thumbnails: segment %d (%s) left out: %s", seg.id, seg.path, exc,
                                extra={"camera": camera})
                    out.skipped[seg.id] = reason
        return out

    def _segment(self, camera: str, seg: Segment, points: list[datetime], out: ThumbnailSet,
                 buffer: SegmentBuffer) -> None:
        base = f"{camera}/{seg.id}-{seg.sha256[:16]}"
        opened: _Opened | _Walked | None = None
        cached = self.cache.read(f"{base}.keys.json")
        keys = Keyframes.from_json(cached) if cached is not None else None
        if keys is None:
            opened = self._open(seg, buffer)
            keys = opened.keyframes
            if keys.pts:
                self.cache.write(f"{base}.keys.json", keys.to_json())
        if not keys.pts:
            return
        picked = dict.fromkeys(keys.at_or_before((at - seg.start).total_seconds()) for at in points)
        for i in picked:
            pts = keys.pts[i]
            name = f"{base}-{pts}.jpg"
            jpeg = self.cache.read(name)
            if jpeg is None:
                opened = opened or self._open(seg, buffer)
                jpeg = opened.jpeg(pts, self.width)
                out.decoded += 1
                if jpeg is None:
                    log.warning("thumbnails: keyframe %d of segment %d does not decode", pts, seg.id,
                                extra={"camera": camera})
                    continue
                self.cache.write(name, jpeg)
            out.thumbnails.append(Thumbnail(seg.start + timedelta(seconds=keys.offsets[i]), seg.id, jpeg))

    def _open(self, seg: Segment, buffer: SegmentBuffer) -> _Opened | _Walked:
        path = self._store.absolute(seg.path)
        if self._fetch is not None and self._loop is not None and not path.exists():
            # From this worker thread, on the loop: fetched and checked into the local cache, then
            # read (and verified again) here like any local segment.
            asyncio.run_coroutine_threadsafe(self._fetch(seg), self._loop).result()
        data = buffer.read_verified(str(path), seg.sha256, seg.bytes)
        try:
            return _Walked(data, scan(data))
        except FragmentError as exc:
            log.info("thumbnails: segment %d demuxed (its fragments: %s)", seg.id, exc)
            return _Opened(bytes(data))


def _covering(segments: Sequence[Segment], at: datetime) -> Segment | None:
    """The segment whose span holds `at` (the later one where two touch)."""
    found: Any = None
    for seg in segments:
        if seg.start <= at < seg.end:
            found = seg
    return found


def _nearest_in_slot(segments: Sequence[Segment], middle: datetime,
                     half: timedelta) -> tuple[Segment | None, datetime]:
    """The segment overlapping the slot [middle - half, middle + half) nearest its middle, and the
    moment of that segment nearest the middle (just before its end when it ends before the middle)."""
    best: tuple[timedelta, Segment, datetime] | None = None
    for seg in segments:
        if seg.end <= middle - half or seg.start >= middle + half:
            continue
        at = seg.start if seg.start > middle else seg.end - timedelta(microseconds=1)
        distance = abs(at - middle)
        if best is None or distance < best[0]:
            best = (distance, seg, at)
    return (best[1], best[2]) if best is not None else (None, middle)
