"""Bench prototype: fragmented MP4 from a pipe -> sealed-like segment files, Python once per fragment.

A producer (an `ffmpeg` child, or an in-process GStreamer pipeline) writes one camera's
forward-only fragmented MP4 (moov first, then moof+mdat starting at every keyframe) into a pipe.
One reader thread serves every camera: every TICK_S it reads what each pipe holds (non-blocking,
large reads), splits the bytes at top-level boxes, and for each whole fragment:

- opens a segment file (O_EXCL) at a fragment boundary, i.e. at a keyframe, writing the init
  (ftyp+moov) first, so every file plays on its own;
- writes the fragment and hashes exactly the bytes that reached the file (short writes included);
- after SEGMENT_S of video, seals it: fsync, close, rename to its final name, chmod 0400, fsync
  of the directory (Pantau's seal_file), and times the seal;
- every HEALTH_S takes the fragment's first sample (the keyframe) and decodes it with Pantau's
  own KeyframeDecoder in a worker thread, as the health monitor samples today.

Not the production format: Pantau's moov carries its header (udta comment with the segment's
JSON) and its tfdt start at the segment; here the producer's moov and times are kept as they come.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

TICK_S = 0.2
HEALTH_S = 5.0
F_SETPIPE_SZ = 1031
PIPE_BYTES = 1 << 20  # /proc/sys/fs/pipe-max-size on Debian: a whole 2 s fragment of 3 Mbit/s fits


def boxes(data: bytes | memoryview, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, payload start, box end) of the whole boxes in data[start:end]."""
    out = []
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        head = 8
        if size == 1:
            if pos + 16 > end:
                break
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            head = 16
        if size < head or pos + size > end:
            break
        out.append((kind, pos + head, pos + size))
        pos += size
    return out


def child(data: bytes | memoryview, start: int, end: int, path: list[bytes]) -> tuple[int, int] | None:
    for kind, s, e in boxes(data, start, end):
        if kind == path[0]:
            return (s, e) if len(path) == 1 else child(data, s, e, path[1:])
    return None


def video_config(moov: bytes) -> tuple[bytes, int, int, int] | None:
    """(avcC, width, height, timescale) of the first video track of a moov payload."""
    for kind, s, e in boxes(moov, 0, len(moov)):
        if kind != b"trak":
            continue
        mdia = child(moov, s, e, [b"mdia"])
        if mdia is None:
            continue
        hdlr = child(moov, *mdia, [b"hdlr"])
        if hdlr is None or moov[hdlr[0] + 8:hdlr[0] + 12] != b"vide":
            continue
        mdhd = child(moov, *mdia, [b"mdhd"])
        assert mdhd is not None
        version = moov[mdhd[0]]
        (timescale,) = struct.unpack_from(">I", moov, mdhd[0] + (20 if version == 1 else 12))
        stsd = child(moov, *mdia, [b"minf", b"stbl", b"stsd"])
        assert stsd is not None
        for k, es, ee in boxes(moov, stsd[0] + 8, stsd[1]):
            if k in (b"avc1", b"avc3"):
                width, height = struct.unpack_from(">HH", moov, es + 24)
                avcc = child(moov, es + 78, ee, [b"avcC"])
                if avcc is not None:
                    return bytes(moov[avcc[0]:avcc[1]]), width, height, timescale
    return None


def fragment_samples(frag: bytes) -> tuple[int, int, int, int]:
    """(sample count, duration in the track's timescale, offset and size of its first sync sample;
    size 0 when it has none) of a moof+mdat starting at frag[0]."""
    (moof_size,) = struct.unpack_from(">I", frag, 0)
    traf = child(frag, 8, moof_size, [b"traf"])
    assert traf is not None
    tfhd = child(frag, *traf, [b"tfhd"])
    trun = child(frag, *traf, [b"trun"])
    assert tfhd is not None and trun is not None
    (tf_flags,) = struct.unpack_from(">I", frag, tfhd[0])
    pos = tfhd[0] + 8
    default_duration = default_size = 0
    default_flags: int | None = None
    if tf_flags & 0x1:
        pos += 8
    if tf_flags & 0x2:
        pos += 4
    if tf_flags & 0x8:
        (default_duration,) = struct.unpack_from(">I", frag, pos)
        pos += 4
    if tf_flags & 0x10:
        (default_size,) = struct.unpack_from(">I", frag, pos)
        pos += 4
    if tf_flags & 0x20:
        (default_flags,) = struct.unpack_from(">I", frag, pos)
    (tr_flags,) = struct.unpack_from(">I", frag, trun[0])
    tr_flags &= 0xFFFFFF
    (count,) = struct.unpack_from(">I", frag, trun[0] + 4)
    pos = trun[0] + 8
    offset = 0
    if tr_flags & 0x1:
        (offset,) = struct.unpack_from(">i", frag, pos)  # default_base_moof: from the moof's first byte
        pos += 4
    first_flags: int | None = None
    if tr_flags & 0x4:
        (first_flags,) = struct.unpack_from(">I", frag, pos)
        pos += 4
    fields = [bit for bit in (0x100, 0x200, 0x400, 0x800) if tr_flags & bit]
    rows = struct.iter_unpack(">" + "I" * len(fields), frag[pos:pos + 4 * len(fields) * count]) if fields \
        else iter([()] * count)
    duration = 0
    key_offset = key_size = 0
    for n, row in enumerate(rows):
        values = dict(zip(fields, row, strict=True))
        duration += values.get(0x100, default_duration)
        size = values.get(0x200, default_size)
        flags = first_flags if n == 0 and first_flags is not None else values.get(0x400, default_flags)
        if not key_size and (flags is None and n == 0 or flags is not None and not flags & 0x10000):
            key_offset, key_size = offset, size
        offset += size
    return count, duration, key_offset, key_size


class CameraSink:
    """One camera: its pipe's bytes -> fragments -> segment files; reader-thread only."""

    def __init__(self, name: str, fd: int, out: Path, segment_s: float, sink: FragmentSink) -> None:
        self.name = name
        self.fd = fd
        self.out = out
        self.segment_s = segment_s
        self.sink = sink
        self.buf = bytearray()
        self.init: bytes | None = None
        self.timescale = 90000
        self.decoder: object | None = None
        self.file_fd: int | None = None
        self.sha = hashlib.sha256()
        self.seg_ticks = 0
        self.seg_index = 0
        self.partial: Path | None = None
        self.samples = 0
        self.fragments: list[tuple[float, int]] = []  # (arrival, samples) per fragment
        self.next_health = 0.0
        self.sealed = 0
        self.bytes = 0
        self.eof = False
        self.arrival = 0.0
        try:
            fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:
            pass
        os.set_blocking(fd, False)

    def read(self) -> None:
        # Fragments of one read share its time: a producer that releases a GOP's fragments at once
        # (splitmuxsink) then counts as one arrival, and fps() measures between whole bursts.
        self.arrival = time.monotonic()
        while True:
            try:
                chunk = os.read(self.fd, PIPE_BYTES)
            except BlockingIOError:
                break
            if not chunk:
                self.eof = True
                break
            self.buf += chunk
        self._split()

    def _split(self) -> None:
        data = self.buf
        pos = 0  # bytes consumed: whole fragments and inits
        box_start = 0  # top-level boxes follow each other
        init_start: int | None = None
        moof_start: int | None = None
        for kind, _, end in boxes(data, 0, len(data)):
            start, box_start = box_start, end
            if kind == b"ftyp":
                init_start = start
            elif kind == b"moov":
                self._new_init(bytes(data[start if init_start is None else init_start:end]), end - start)
                init_start = None
                pos = end
            elif init_start is not None:
                continue  # a box between ftyp and moov belongs to the init
            elif kind == b"moof":
                moof_start = start
            elif kind == b"mdat" and moof_start is not None:
                self._fragment(bytes(data[moof_start:end]))
                moof_start = None
                pos = end
            elif moof_start is None:
                pos = end
        if pos:
            del self.buf[:pos]

    def _new_init(self, init: bytes, moov_size: int) -> None:
        """A producer's (new) ftyp+moov: a producer that starts a new file per segment cuts here."""
        if self.file_fd is not None and self.sink.cut_on_init:
            self._seal(time.monotonic())
        if self.init is None:
            self._configure(init[len(init) - moov_size + 8:])
        self.init = init

    def _configure(self, moov: bytes) -> None:
        config = video_config(moov)
        if config is None:
            return
        avcc, width, height, self.timescale = config
        from streams.keyframe import KeyframeDecoder
        from streams.packet import StreamInfo

        self.decoder = KeyframeDecoder(StreamInfo(0, "video", "h264", Fraction(1, self.timescale), avcc, width, height))

    def _fragment(self, frag: bytes) -> None:
        now = self.arrival
        count, duration, first_off, first_size = fragment_samples(frag)
        self.samples += count
        self.fragments.append((now, count))
        if self.file_fd is not None and not self.sink.cut_on_init and self.seg_ticks >= self.segment_s * self.timescale:
            self._seal(now)
        if self.file_fd is None:
            self._open()
        self._write(frag)
        self.seg_ticks += duration
        if self.decoder is not None and now >= self.next_health and first_size:
            self.next_health = now + self.sink.health_s
            self.sink.sample(self, frag[first_off:first_off + first_size])

    def _open(self) -> None:
        self.partial = self.out / f"{self.name}-{self.seg_index:05d}.mp4.partial"
        self.file_fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        self.sha = hashlib.sha256()
        self.seg_ticks = 0
        assert self.init is not None
        self._write(self.init)

    def _write(self, data: bytes) -> None:
        assert self.file_fd is not None
        view = memoryview(data)
        while view:
            n = os.write(self.file_fd, view)
            self.sha.update(view[:n])  # exactly what reached the file
            self.bytes += n
            view = view[n:]

    def _seal(self, cut_at: float) -> None:
        assert self.file_fd is not None and self.partial is not None
        os.fsync(self.file_fd)
        os.close(self.file_fd)
        self.file_fd = None
        final = self.partial.with_suffix("")
        os.rename(self.partial, final)
        os.chmod(final, 0o400)
        dfd = os.open(self.out, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        self.sink.sealed(self, self.sha.hexdigest(), time.monotonic() - cut_at)
        self.seg_index += 1

    def fps(self, t0: float, t1: float) -> float:
        """Frames per second delivered by reads in [t0, t1]: the first read with fragments is the time
        origin (its frames are before it), the frames of the later ones over the time to the last."""
        reads: dict[float, int] = {}
        for t, c in self.fragments:
            if t0 <= t <= t1:
                reads[t] = reads.get(t, 0) + c
        if len(reads) < 2:
            return 0.0
        times = sorted(reads)
        return sum(reads[t] for t in times[1:]) / (times[-1] - times[0])


class FragmentSink:
    """The one reader thread for every camera's pipe, plus one health-decode worker thread."""

    def __init__(self, out: Path, segment_s: float, cut_on_init: bool = False) -> None:
        self.out = out
        self.segment_s = segment_s
        #: The producer starts every segment itself (GStreamer's splitmuxsink): cut where a new
        #: ftyp+moov begins instead of counting video time (fragments start at keyframes).
        self.cut_on_init = cut_on_init
        self.health_s = HEALTH_S
        self.cameras: list[CameraSink] = []
        self.latencies: list[float] = []
        self.health_decodes = 0
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="health")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fragments", daemon=True)
        self._lock = threading.Lock()

    def add(self, name: str, fd: int) -> CameraSink:
        cam = CameraSink(name, fd, self.out, self.segment_s, self)
        with self._lock:
            self.cameras.append(cam)
        return cam

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop reading (after the producers ended), take what the pipes still hold, seal every open file."""
        self._stop.set()
        self._thread.join(10)
        for cam in self.cameras:
            if not cam.eof:
                cam.read()
            if cam.file_fd is not None:
                cam._seal(time.monotonic())
        self._pool.shutdown(wait=True)

    def sample(self, cam: CameraSink, keyframe: bytes) -> None:
        from streams.health import ANALYSIS_WIDTH
        from streams.packet import MediaPacket

        decoder = cam.decoder
        packet = MediaPacket(0, keyframe, None, None, True, time.monotonic(), time.time())

        def run() -> None:
            if decoder.decode_gray(packet, ANALYSIS_WIDTH) is not None:  # type: ignore[attr-defined]
                self.health_decodes += 1

        self._pool.submit(run)

    def sealed(self, cam: CameraSink, sha256: str, latency: float) -> None:
        cam.sealed += 1
        self.latencies.append(latency)

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            with self._lock:
                cams = list(self.cameras)
            for cam in cams:
                if not cam.eof:
                    cam.read()
