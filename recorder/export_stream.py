"""One export, driven from the event loop: the reader's items are cut (recorder/export.py) on the
loop, muxed in a worker thread, and handed out as bytes in order, pulled by the consumer.

Memory stays bounded whatever the consumer does: nothing is read ahead of what the consumer
has taken, beyond one batch of packets (BATCH_BYTES) and the segment the reader holds. A
slow client therefore slows the read, it never grows a buffer.

`fmp4` streams while it is muxed. `mp4` (progressive, the moov in front so players can start
before the end) cannot be written forward: the muxer needs every sample's size and offset
before it writes the moov. It is muxed into a temporary file under `tmp_dir` first
(FFmpeg's faststart then moves the moov to the front), which is unlinked as soon as it is
open for reading, so no copy of the footage outlives the download.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, Callable
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

from recorder.export import ChunkSink, ContainerWriter, ExportFormat, StopReason, WindowCut
from recorder.reader import ReadItem
from streams.packet import MediaPacket

# Packets handed to the worker thread at a time (and at most this much read ahead).
BATCH_BYTES = 1024 * 1024
# Read size when streaming a finished mp4 from its temporary file.
FILE_CHUNK = 256 * 1024

T = TypeVar("T")
Batch = list[tuple[MediaPacket, int, int]]


class PacketSource(Protocol):
    """What an export needs of the reader (recorder/reader.py SegmentReader)."""

    def read(self, camera: str, start: datetime, end: datetime) -> AsyncGenerator[ReadItem, None]: ...


class Export:
    """One download of a camera's [start, end): `prepare()`, then `chunks()`, always `aclose()`."""

    def __init__(
        self, source: PacketSource, camera: str, start: datetime, end: datetime, fmt: ExportFormat, tmp_dir: Path,
        audio: bool = True,
    ) -> None:
        """`audio`: whether the recorded sound goes into the file (False: the policy's no_audio)."""
        self.camera = camera
        self.fmt = fmt
        self.cut = WindowCut(start, end, audio=audio)
        self.size: int | None = None  # known before streaming for mp4
        self._items = source.read(camera, start, end)
        self._tmp_dir = tmp_dir
        self._sink = ChunkSink() if fmt is ExportFormat.FMP4 else None
        self._path: Path | None = None
        self._file: IO[bytes] | None = None
        self._writer: ContainerWriter | None = None
        self._closed_writer = False
        self._busy: asyncio.Future[Any] | None = None

    @property
    def stop(self) -> StopReason | None:
        return self.cut.stop

    async def prepare(self) -> bool:
        """Read up to the file's first keyframe (mp4: write the whole file); False when the window
        holds no recording to export."""
        batch = await self._next_batch()
        if not self.cut.started or not batch:
            return False
        assert self.cut.first_wall is not None
        target: ChunkSink | Path
        if self._sink is not None:
            target = self._sink
        else:
            self._tmp_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._path = target = self._tmp_dir / f"export-{uuid.uuid4().hex}.mp4"
        first, wall, streams = batch[0][0], self.cut.first_wall, self.cut.streams
        self._writer = await self._run(ContainerWriter, self.fmt, streams, first, wall, self.camera, target)
        await self._run(self._writer.write, batch)
        if self.fmt is ExportFormat.MP4:
            while self.cut.stop is None:
                await self._run(self._writer.write, await self._next_batch())
            await self._finish_writer()
            assert self._path is not None
            self._file = await self._run(self._path.open, "rb")
            self.size = await self._run(lambda: self._path.stat().st_size if self._path else 0)
            await self._run(self._path.unlink)
            self._path = None
        return True

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """The file's bytes in order, produced as they are taken."""
        if self._file is not None:
            while data := await self._run(self._file.read, FILE_CHUNK):
                yield data
            return
        sink, writer = self._sink, self._writer
        assert sink is not None and writer is not None, "prepare() first"
        while True:
            if data := sink.take():
                yield data
            if self.cut.stop is not None:
                break
            batch = await self._next_batch()
            if batch:
                await self._run(writer.write, batch)
        await self._finish_writer()
        if data := sink.take():
            yield data

    def written_range(self) -> tuple[datetime, datetime] | None:
        """What the file holds, [first frame, end of the last frame), in UTC."""
        return self.cut.written_range()

    async def aclose(self) -> None:
        """Release the reader, the muxer and the temporary file; safe after any failure."""
        if self._busy is not None and not self._busy.done():
            await asyncio.wait([self._busy])  # the worker thread cannot be interrupted mid-call
        with contextlib.suppress(Exception):
            await self._items.aclose()
        if self._writer is not None and not self._closed_writer:
            self._closed_writer = True
            await asyncio.get_running_loop().run_in_executor(None, self._writer.abandon)
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._path is not None:
            self._path.unlink(missing_ok=True)
            self._path = None

    async def _finish_writer(self) -> None:
        writer = self._writer
        if writer is not None and not self._closed_writer:
            self._closed_writer = True
            await self._run(writer.close)

    async def _next_batch(self) -> Batch:
        """Pull items until a batch is full or the cut stops."""
        out: Batch = []
        size = 0
        while self.cut.stop is None and size < BATCH_BYTES:
            try:
                item = await anext(self._items)
            except StopAsyncIteration:
                self.cut.finish()
                break
            for entry in self.cut.feed(item):
                out.append(entry)
                size += len(entry[0].data)
        return out

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking work in a worker thread. Shielded: when the caller is cancelled the call
        still finishes, and aclose() waits for it before touching the muxer again."""
        future = asyncio.get_running_loop().run_in_executor(None, fn, *args)
        self._busy = future
        return await asyncio.shield(future)
