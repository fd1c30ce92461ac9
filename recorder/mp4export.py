"""Evidence copies as MP4 files: a camera's window read through the segment reader, cut to the
frame like /get (recorder/export.py WindowCut), remuxed without transcoding into progressive MP4
(moov first) with a UTC time-code subtitle track (recorder/timecode.py).

A file holds one continuous recording, as /get's does, but an evidence copy covers the whole
window: where a gap (or a change of stream parameters) ends one file, the next recording starts
another. The first file is `out`, later ones `out` with `-2`, `-3`... before the suffix; each
result says why its file ended (`stop`). Every file is muxed under a temporary name beside its
final one and linked into place only when complete, never over an existing file. On
cancellation (`cancelled()`, asked between batches: ExportCancelled) or any error, every file
this call wrote, finished or not, is removed before the exception propagates.

Muxing and hashing run in worker threads; the reader and the cut run on the loop. Memory is
bounded by one batch of packets (BATCH_BYTES), the segment the reader holds and about a second
of packets in the muxer's interleaving queue (the time code's cue for a second is handed out
when the video passes the next one).
"""

from __future__ import annotations

import asyncio
import functools
from array import array
import hashlib
import uuid
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import av

from core.durablefile import publish_hashed
from core.errors import PantauError
from core.utctime import format_utc, from_epoch
from recorder.export import ContainerWriter, ExportFormat, StopReason, WindowCut
from recorder.export_stream import BATCH_BYTES, PacketSource
from recorder.reader import ReadItem, SegmentOpened
from recorder.timecode import Cue, TimecodeCues, add_timecode_stream, sample
from streams.packet import MediaPacket

T = TypeVar("T")
Batch = list[tuple[MediaPacket, int, int]]


class ExportCancelled(Exception):
    """`cancelled()` said stop; no file of the export is left on disk."""


class Mp4ExportFailed(PantauError):
    """The MP4 could not be written (muxer or disk); no file of the export is left on disk."""

    title = "MP4 export failed"
    kind = "mp4-export-failed"


@dataclass(frozen=True, slots=True)
class Mp4Result:
    """One finished MP4 of a continuous recording."""

    camera: str
    path: Path
    bytes: int
    sha256: str
    first: datetime  # UTC of the first frame
    end: datetime  # UTC where the last frame ends
    frames: int
    stop: StopReason  # why the file ends where it does
    # UTC seconds of every video frame, in file order, and each one's presentation time in the file
    # (seconds). Plain double arrays: 16 bytes a frame, so 24 h at 25 fps holds ~35 MB, not ~130 MB
    # of float objects.
    frame_times: Sequence[float]
    file_times: Sequence[float] = ()
    #: The file holds the recorded sound.
    audio: bool = False


def span_path(out: Path, number: int) -> Path:
    """Where the `number`th file (from 1) of an export to `out` goes."""
    return out if number == 1 else out.with_name(f"{out.stem}-{number}{out.suffix}")


def frames_csv(result: Mp4Result) -> bytes:
    """`frame,file_time_s,utc` for every video frame of the file, in file order, UTC to the microsecond."""
    lines = ["frame,file_time_s,utc"]
    for i, (wall, at) in enumerate(zip(result.frame_times, result.file_times, strict=True)):
        utc = from_epoch(wall).isoformat(timespec="microseconds").replace("+00:00", "Z")
        lines.append(f"{i},{at:.6f},{utc}")
    return ("\n".join(lines) + "\n").encode()


async def export_mp4(
    source: PacketSource, camera: str, label: str, start: datetime, end: datetime, out: Path,
    progress: Callable[[int], None] | None = None, cancelled: Callable[[], bool] | None = None,
    audio: bool = True,
) -> list[Mp4Result]:
    """The MP4s of `camera`'s recording in [start, end), one per continuous recording, in time
    order (empty when the window holds no keyframe). `progress(n)`: n more source bytes read.
    `audio`: whether the recorded sound goes in (False: the policy's no_audio, video only)."""
    items = source.read(camera, start, end)
    done: list[Mp4Result] = []
    carry: SegmentOpened | None = None
    try:
        while True:
            span = _Span(camera, label, WindowCut(start, end, audio=audio), items, progress, cancelled)
            if carry is not None:
                span.cut.feed(carry)  # the segment whose new stream parameters ended the last file
            result = await span.write(span_path(out, len(done) + 1))
            if result is not None:
                done.append(result)
            if span.cut.stop is not StopReason.GAP and span.cut.stop is not StopReason.STREAMS_CHANGED:
                return done
            carry = span.opened if span.cut.stop is StopReason.STREAMS_CHANGED else None
    except BaseException:
        for result in done:
            result.path.unlink(missing_ok=True)
        raise
    finally:
        await items.aclose()


@dataclass
class _Span:
    """One file: pulls the reader until its cut stops."""

    camera: str
    label: str
    cut: WindowCut
    items: AsyncGenerator[ReadItem, None]
    progress: Callable[[int], None] | None
    cancelled: Callable[[], bool] | None
    opened: SegmentOpened | None = None
    frame_times: array[float] = field(default_factory=lambda: array("d"))
    file_times: array[float] = field(default_factory=lambda: array("d"))
    _busy: asyncio.Future[Any] | None = None

    async def write(self, final: Path) -> Mp4Result | None:
        """Mux the span into `final`; None (nothing written) when it holds no keyframe."""
        batch = await self._next_batch()  # up to the first keyframe, or the span's end
        if not self.cut.started or not batch:
            return None
        assert self.cut.first_wall is not None
        if await self._run(final.exists):
            raise Mp4ExportFailed(f"{final} exists; an export never overwrites a file")
        tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.partial")
        cues = TimecodeCues(self.label, self.cut.first_wall)
        writer: _TimecodedWriter | None = None
        try:
            writer = await self._run(_TimecodedWriter, tmp, self.cut, batch[0][0], self.camera)
            while batch:
                await self._run(writer.write, batch, self._cues(cues, batch))
                if self.cut.stop is not None:
                    break
                batch = await self._next_batch()
            written = self.cut.written_range()
            assert written is not None
            await self._run(writer.close, cues.finish(written[1].timestamp()))
            writer = None
            size, sha = await self._run(functools.partial(publish_hashed, tmp, final, replace=False))
        except (av.error.FFmpegError, OSError) as exc:
            raise Mp4ExportFailed(f"MP4 of camera {self.camera} to {final.name}: {exc}") from exc
        finally:
            if writer is not None:
                await self._run(writer.abandon)
            tmp.unlink(missing_ok=True)
        assert self.cut.stop is not None
        return Mp4Result(self.camera, final, size, sha, written[0], written[1], self.cut.frames, self.cut.stop,
                         self.frame_times, self.file_times, self.cut.audio_written)

    def _cues(self, cues: TimecodeCues, batch: Batch) -> list[Cue]:
        video = self.cut.video
        # pts * num / den is float(pts * time_base) without a Fraction per frame (int / int is
        # correctly rounded, as float(Fraction) is).
        num, den = (video.time_base.numerator, video.time_base.denominator) if video else (1, 1)
        out: list[Cue] = []
        for packet, pts, _ in batch:
            if video is None or packet.stream == video.index:
                self.frame_times.append(packet.wallclock)
                self.file_times.append(pts * num / den)
                out += cues.advance(packet.wallclock)
        return out

    async def _next_batch(self) -> Batch:
        """Pull items until a batch is full or the cut stops; asks `cancelled()` first."""
        if self.cancelled is not None and self.cancelled():
            raise ExportCancelled(f"export of camera {self.camera} cancelled")
        out: Batch = []
        size = 0
        while self.cut.stop is None and size < BATCH_BYTES:
            try:
                item = await anext(self.items)
            except StopAsyncIteration:
                self.cut.finish()
                break
            if isinstance(item, SegmentOpened):
                self.opened = item
                if self.progress is not None:
                    self.progress(item.bytes)
            for entry in self.cut.feed(item):
                out.append(entry)
                size += len(entry[0].data)
        return out

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Blocking work in a worker thread, shielded: when the caller is cancelled the call still
        finishes before anything else touches the muxer or the file."""
        if self._busy is not None and not self._busy.done():
            await asyncio.wait([self._busy])
        future = asyncio.get_running_loop().run_in_executor(None, fn, *args)
        self._busy = future
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            await asyncio.wait([future])
            raise


class _TimecodedWriter:
    """A progressive MP4 (recorder/export.py ContainerWriter) plus the time-code track; one worker
    thread at a time."""

    def __init__(self, path: Path, cut: WindowCut, first: MediaPacket, camera: str) -> None:
        assert cut.first_wall is not None
        self.inner = ContainerWriter(ExportFormat.MP4, cut.streams, first, cut.first_wall, camera, path)
        try:
            self.timecode = add_timecode_stream(self.inner.container)
        except BaseException:
            self.inner.abandon()
            raise

    def write(self, batch: Batch, cues: list[Cue]) -> None:
        self.inner.write(batch)
        self._cues(cues)

    def close(self, cues: list[Cue]) -> None:
        """The last cues, then the trailer (the moov, moved to the front)."""
        self._cues(cues)
        self.inner.close()

    def abandon(self) -> None:
        self.inner.abandon()

    def _cues(self, cues: list[Cue]) -> None:
        for cue in cues:
            packet = av.Packet(sample(cue.text))
            packet.pts = packet.dts = cue.start
            packet.duration = cue.duration
            packet.is_keyframe = True
            packet.time_base = self.timecode.time_base
            packet.stream = self.timecode
            self.inner.container.mux(packet)




def file_entries(result: Mp4Result, mp4_name: str, csv_name: str) -> list[dict[str, Any]]:
    """The bundle manifest's `files` entries (recorder/bundle.py) for an MP4 stored in the zip as
    `mp4_name` and its `frames_csv` as `csv_name`."""
    csv = frames_csv(result)
    common = {"camera": result.camera, "first": format_utc(result.first), "end": format_utc(result.end),
              "frames": result.frames}
    return [
        {"name": mp4_name, "kind": "mp4", "sha256": result.sha256, "bytes": result.bytes, "audio": result.audio,
         **common},
        {"name": csv_name, "kind": "frames", "sha256": hashlib.sha256(csv).hexdigest(), "bytes": len(csv), **common},
    ]
