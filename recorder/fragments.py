"""A sealed segment's video keyframes read from its fragment headers, in the read that verifies it.

The recorder writes forward-only fragmented MP4 (recorder/mp4.py: moov, then moof+mdat with a new
fragment at every keyframe). The keyframes' times and byte ranges are in the moof boxes (tfdt, trun
sample sizes, flags and composition offsets), so finding them needs no demuxer creating a packet
per frame: a walk over a few hundred header bytes per fragment. The file is read once into a
buffer that is hashed before anything in it is trusted; the keyframes are slices of those bytes.

Times follow FFmpeg's mov demuxer (libavformat/mov.c, what PyAV gives the playback reader): a
fragment's first dts is its tfdt minus the track's edit-list offset (the first non-empty edit's
media time minus the leading empty edit, rescaled to the track's timescale), pts = dts +
composition offset, and a sample is a keyframe unless its flags say non-sync or depends-on-others.
tests/recorder/test_fragments.py holds this against PyAV's demux of the same segments. Anything
the walk does not expect raises FragmentError, and the caller may demux the same bytes instead.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

from recorder.reader import SegmentCorrupt
from recorder.segment import SegmentMeta

#: Sample entry -> FFmpeg decoder name (the codecs the recorder writes video in).
VIDEO_ENTRIES = {b"avc1": "h264", b"avc3": "h264", b"hvc1": "hevc", b"hev1": "hevc"}
_CONFIG_BOXES = (b"avcC", b"hvcC")
# ISO/IEC 14496-12 8.8.3.1 sample flags: sample_is_non_sync_sample, and sample_depends_on = 1 (not I).
_NON_SYNC = 0x00010000
_DEPENDS_YES = 0x01000000
# tfhd flags (8.8.7.1)
_TFHD_BASE_OFFSET, _TFHD_DESC, _TFHD_DURATION, _TFHD_SIZE, _TFHD_FLAGS = 0x1, 0x2, 0x8, 0x10, 0x20
_TFHD_BASE_IS_MOOF = 0x20000
# trun flags (8.8.8.1)
_TRUN_OFFSET, _TRUN_FIRST_FLAGS = 0x1, 0x4
_TRUN_DURATION, _TRUN_SIZE, _TRUN_FLAGS, _TRUN_CTS = 0x100, 0x200, 0x400, 0x800
#: Read and hash in pieces that stay in the L2 cache between the copy and the hash (measured on
#: the bench's hour: 256 KiB 0.95 CPU s, whole-file read then hash 1.05 s).
READ_CHUNK = 256 * 1024


class FragmentError(ValueError):
    """The segment's boxes are not the fragmented MP4 this reader understands (not tampering: the
    bytes hashed right)."""


@dataclass(frozen=True, slots=True)
class Keyframe:
    """A video keyframe: pts in the track's timescale, and where its sample lies in the file."""

    pts: int
    offset: int
    size: int


@dataclass(slots=True)
class _Track:
    track_id: int
    kind: bytes = b""
    timescale: int = 0
    codec: str = ""
    extradata: bytes = b""
    width: int = 0
    height: int = 0
    empty_duration: int = 0  # movie timescale
    media_start: int = 0
    defaults: tuple[int, int, int] = (0, 0, 0)  # trex: duration, size, flags
    min_pts: int | None = None

    def time_offset(self, movie_timescale: int) -> int:
        """What FFmpeg subtracts from every tfdt (mov.c mov_build_index: start_time - empty_duration)."""
        empty = self.empty_duration * self.timescale // movie_timescale if movie_timescale else 0
        return self.media_start - empty


@dataclass(slots=True)
class Scanned:
    """What a verified segment's headers say: its Pantau header, video track and keyframes."""

    meta: SegmentMeta
    codec: str = ""
    extradata: bytes = b""
    width: int = 0
    height: int = 0
    time_base: Fraction = Fraction(1, 90000)
    #: Keyframes in file order (decode order).
    keyframes: list[Keyframe] = field(default_factory=list)
    #: Seconds of the first picture (least pts) of the stream the header names as the time origin.
    origin_first: Fraction | None = None


class SegmentBuffer:
    """One reusable buffer for reading segments one after another (a worker thread's own).

    Reusing it keeps the kernel from handing out and zeroing fresh pages for every segment."""

    def __init__(self) -> None:
        self._data = bytearray()

    def read_verified(self, path: str, expected: str, size: int) -> memoryview:
        """The file's bytes, only if they are `size` long and hash to `expected` (the index's).

        One read, hashed chunk by chunk while the chunk is still in the CPU's cache: the hash is
        of exactly the bytes the caller then parses, so the file changing afterwards cannot put
        unverified bytes in front of anyone. The view is valid until the next call."""
        with open(path, "rb", buffering=0) as fh:
            actual = os.fstat(fh.fileno()).st_size
            if actual != size:
                raise SegmentCorrupt(f"{path}: {actual} bytes, the index says {size}")
            if len(self._data) < size:
                # Headroom: segments of one camera differ by a few bytes, and each growth is a new
                # allocation whose pages the kernel zeroes.
                self._data = bytearray(size + (size >> 4))
            view = memoryview(self._data)[:size]
            sha = hashlib.sha256()
            got = 0
            while got < size:
                n = fh.readinto(view[got:got + READ_CHUNK])
                if not n:
                    raise SegmentCorrupt(f"{path}: ended after {got} of {size} bytes")
                sha.update(view[got:got + n])
                got += n
        digest = sha.hexdigest()
        if digest != expected:
            raise SegmentCorrupt(f"{path}: sha256 {digest} does not match the index ({expected})")
        return view


def _boxes(data: memoryview, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of the boxes in data[start:end]."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        head = 8
        if size == 1:
            if pos + 16 > end:
                raise FragmentError(f"box {kind!r} at {pos}: truncated size")
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            head = 16
        elif size == 0:
            size = end - pos
        if size < head or pos + size > end:
            raise FragmentError(f"box {kind!r} at {pos}: size {size} runs past its parent")
        yield kind, pos + head, pos + size
        pos += size


def _child(data: memoryview, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    return next(((s, e) for k, s, e in _boxes(data, start, end) if k == kind), None)


def scan(data: memoryview) -> Scanned:
    """Walk a verified segment's boxes: the header, the video track and its keyframes."""
    try:
        return _scan(data)
    except struct.error as exc:  # a box too short for its fields
        raise FragmentError(str(exc)) from exc


def _scan(data: memoryview) -> Scanned:
    movie_timescale = 0
    tracks: dict[int, _Track] = {}
    order: list[int] = []  # track ids in file order: FFmpeg's stream indexes
    meta: SegmentMeta | None = None
    keyframes: list[Keyframe] = []
    video: _Track | None = None
    for kind, start, end in _boxes(data, 0, len(data)):
        if kind == b"moov":
            movie_timescale, meta = _moov(data, start, end, tracks, order)
            video = next((tracks[t] for t in order if tracks[t].kind == b"vide"), None)
        elif kind == b"moof":
            if not tracks:
                raise FragmentError("a fragment before the moov")
            _moof(data, start - 8, start, end, tracks, movie_timescale, video, keyframes)
    if meta is None:
        raise SegmentCorrupt("segment has no Pantau header")
    out = Scanned(meta)
    if video is not None:
        if not video.codec:
            raise FragmentError("video track in a codec this reader does not know")
        out.codec, out.extradata, out.width, out.height = video.codec, video.extradata, video.width, video.height
        out.time_base = Fraction(1, video.timescale)
        out.keyframes = keyframes
    # The stream the header names as the time origin, by its place in the file (as the reader maps it).
    for track_id, (orig, _, _, _) in zip(order, meta.streams, strict=False):
        if orig == meta.origin_stream and tracks[track_id].min_pts is not None:
            origin = tracks[track_id]
            out.origin_first = Fraction(origin.min_pts, origin.timescale)  # type: ignore[arg-type]
    return out


def _full(data: memoryview, start: int) -> tuple[int, int]:
    (word,) = struct.unpack_from(">I", data, start)
    return word >> 24, word & 0xFFFFFF


def _moov(data: memoryview, start: int, end: int, tracks: dict[int, _Track],
          order: list[int]) -> tuple[int, SegmentMeta | None]:
    movie_timescale = 0
    meta: SegmentMeta | None = None
    for kind, s, e in _boxes(data, start, end):
        if kind == b"mvhd":
            version, _ = _full(data, s)
            (movie_timescale,) = struct.unpack_from(">I", data, s + (20 if version == 1 else 12))
        elif kind == b"trak":
            track = _trak(data, s, e)
            tracks[track.track_id] = track
            order.append(track.track_id)
        elif kind == b"mvex":
            for k, ts, te in _boxes(data, s, e):
                if k == b"trex" and te - ts >= 24:
                    track_id, _, duration, size, flags = struct.unpack_from(">5I", data, ts + 4)
                    if track_id in tracks:
                        tracks[track_id].defaults = (duration, size, flags)
        elif kind == b"udta":
            meta = _header(data, s, e)
    return movie_timescale, meta


def _header(data: memoryview, start: int, end: int) -> SegmentMeta | None:
    """The Pantau header: udta/meta/ilst/(c)cmt/data, where FFmpeg writes the "comment" tag."""
    found = _child(data, start, end, b"meta")
    if found is None:
        return None
    ilst = _child(data, found[0] + 4, found[1], b"ilst")  # meta is a full box
    comment = _child(data, *ilst, b"\xa9cmt") if ilst else None
    value = _child(data, *comment, b"data") if comment else None
    if value is None:
        return None
    return SegmentMeta.from_json(bytes(data[value[0] + 8:value[1]]).decode("utf-8", "replace"))


def _trak(data: memoryview, start: int, end: int) -> _Track:
    track = _Track(0)
    for kind, s, e in _boxes(data, start, end):
        if kind == b"tkhd":
            version, _ = _full(data, s)
            (track.track_id,) = struct.unpack_from(">I", data, s + (20 if version == 1 else 12))
        elif kind == b"edts":
            elst = _child(data, s, e, b"elst")
            if elst is not None:
                _edits(data, elst[0], track)
        elif kind == b"mdia":
            for k, ms, me in _boxes(data, s, e):
                if k == b"mdhd":
                    version, _ = _full(data, ms)
                    (track.timescale,) = struct.unpack_from(">I", data, ms + (20 if version == 1 else 12))
                elif k == b"hdlr":
                    track.kind = bytes(data[ms + 8:ms + 12])
                elif k == b"minf":
                    stbl = _child(data, ms, me, b"stbl")
                    stsd = _child(data, *stbl, b"stsd") if stbl else None
                    if stsd is not None:
                        _sample_entry(data, stsd[0] + 8, stsd[1], track)
    if not track.track_id or not track.timescale:
        raise FragmentError("a track without id or timescale")
    return track


def _edits(data: memoryview, start: int, track: _Track) -> None:
    """FFmpeg's reading of an edit list (mov.c mov_read_elst): a leading empty edit is a delay,
    the next edit's media time is where the track starts."""
    version, _ = _full(data, start)
    (count,) = struct.unpack_from(">I", data, start + 4)
    entry = ">QqI" if version == 1 else ">IiI"
    step = struct.calcsize(entry)
    first_media = 0
    for i in range(count):
        duration, media_time, _ = struct.unpack_from(entry, data, start + 8 + i * step)
        if i == 0 and media_time == -1:
            track.empty_duration = duration
            first_media = 1
        elif i == first_media and media_time >= 0:
            track.media_start = media_time


def _sample_entry(data: memoryview, start: int, end: int, track: _Track) -> None:
    for kind, s, e in _boxes(data, start, end):
        codec = VIDEO_ENTRIES.get(kind)
        if codec is None:
            continue
        # VisualSampleEntry (14496-12 12.1.3): width and height at 24, child boxes after 78 bytes.
        track.width, track.height = struct.unpack_from(">HH", data, s + 24)
        config = next(((cs, ce) for k, cs, ce in _boxes(data, s + 78, e) if k in _CONFIG_BOXES), None)
        if config is None:
            raise FragmentError(f"{kind!r} sample entry without its decoder configuration")
        track.codec = codec
        track.extradata = bytes(data[config[0]:config[1]])
        return


def _moof(data: memoryview, moof_start: int, start: int, end: int, tracks: dict[int, _Track],
          movie_timescale: int, video: _Track | None, keyframes: list[Keyframe]) -> None:
    for kind, s, e in _boxes(data, start, end):
        if kind != b"traf":
            continue
        tfhd = _child(data, s, e, b"tfhd")
        if tfhd is None:
            raise FragmentError("a traf without tfhd")
        _, flags = _full(data, tfhd[0])
        (track_id,) = struct.unpack_from(">I", data, tfhd[0] + 4)
        track = tracks.get(track_id)
        if track is None:
            raise FragmentError(f"a fragment of unknown track {track_id}")
        duration, size, sample_flags = track.defaults
        pos = tfhd[0] + 8
        base = moof_start
        if flags & _TFHD_BASE_OFFSET:
            (base,) = struct.unpack_from(">Q", data, pos)
            pos += 8
        elif not flags & _TFHD_BASE_IS_MOOF:
            raise FragmentError("fragment data not based on its moof")
        if flags & _TFHD_DESC:
            pos += 4
        for bit in (_TFHD_DURATION, _TFHD_SIZE, _TFHD_FLAGS):
            if flags & bit:
                (value,) = struct.unpack_from(">I", data, pos)
                pos += 4
                if bit == _TFHD_DURATION:
                    duration = value
                elif bit == _TFHD_SIZE:
                    size = value
                else:
                    sample_flags = value
        tfdt = _child(data, s, e, b"tfdt")
        if tfdt is None:
            raise FragmentError("a fragment without tfdt")
        version, _ = _full(data, tfdt[0])
        (dts,) = struct.unpack_from(">Q" if version == 1 else ">I", data, tfdt[0] + 4)
        dts -= track.time_offset(movie_timescale)
        offset = base
        want = track is video
        for k, ts, te in _boxes(data, s, e):
            if k != b"trun":
                continue
            dts, offset = _trun(data, ts, te, base, offset, dts, (duration, size, sample_flags), track,
                                keyframes if want else None)


def _trun(data: memoryview, start: int, end: int, base: int, offset: int, dts: int,
          defaults: tuple[int, int, int], track: _Track, keyframes: list[Keyframe] | None) -> tuple[int, int]:
    """Walk one trun's samples; returns the dts and file offset after them."""
    version, flags = _full(data, start)
    (count,) = struct.unpack_from(">I", data, start + 4)
    pos = start + 8
    if flags & _TRUN_OFFSET:
        (rel,) = struct.unpack_from(">i", data, pos)
        offset = base + rel
        pos += 4
    first_flags: int | None = None
    if flags & _TRUN_FIRST_FLAGS:
        (first_flags,) = struct.unpack_from(">I", data, pos)
        pos += 4
    fields = [(bit, code) for bit, code in ((_TRUN_DURATION, "I"), (_TRUN_SIZE, "I"), (_TRUN_FLAGS, "I"),
                                            (_TRUN_CTS, "i")) if flags & bit]
    fmt = ">" + "".join(code for _, code in fields)
    step = 4 * len(fields)
    if pos + step * count > end:
        raise FragmentError("trun runs past its box")
    default_duration, default_size, default_flags = defaults
    has = [bit for bit, _ in fields]
    i_dur = has.index(_TRUN_DURATION) if _TRUN_DURATION in has else -1
    i_size = has.index(_TRUN_SIZE) if _TRUN_SIZE in has else -1
    i_flags = has.index(_TRUN_FLAGS) if _TRUN_FLAGS in has else -1
    i_cts = has.index(_TRUN_CTS) if _TRUN_CTS in has else -1
    rows = struct.iter_unpack(fmt, data[pos:pos + step * count]) if step else iter([()] * count)
    for n, row in enumerate(rows):
        duration = row[i_dur] if i_dur >= 0 else default_duration
        size = row[i_size] if i_size >= 0 else default_size
        sample_flags = first_flags if n == 0 and first_flags is not None else \
            row[i_flags] if i_flags >= 0 else default_flags
        pts = dts + (row[i_cts] if i_cts >= 0 else 0)
        if track.min_pts is None or pts < track.min_pts:
            track.min_pts = pts
        if keyframes is not None and size and not sample_flags & (_NON_SYNC | _DEPENDS_YES):
            if offset + size > len(data):
                raise FragmentError("a keyframe's sample runs past the end of the file")
            keyframes.append(Keyframe(pts, offset, size))
        dts += duration
        offset += size
    return dts, offset
