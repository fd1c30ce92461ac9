"""One camera's continuous recording: hub packets -> segments cut on keyframes -> index.

The writer is the loop side and composes the parts: `UtcAnchor` puts a connection's packets on
UTC, `Cutter` decides where segments start and end, `Gaps` keeps the gap rows, the `MuxThread`
writes and seals, and `SegmentIndexer` indexes what it sealed.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from core.clock import Clock
from core.waiting import uncancellable
from recorder.cutter import Cutter, SegmentState, starts_segment
from recorder.reports import RecordingEvent, RecordingEventKind, RecordingEventSink, emit
from recorder.gaps import Gaps, failure_reason, fell_behind_reason, stream_change_reason
from recorder.index import SegmentIndex
from recorder.interleave import Preroll, audio_length
from recorder.indexing import SegmentIndexer
from recorder.audiopath import needs_transcode
from recorder.mp4 import recordable
from recorder.muxthread import Failed, MuxThread, Result, Sealed
from recorder.segment import SealedSegment
from recorder.status import StorageState
from recorder.store import SegmentStore
from recorder.timeline import UtcAnchor, seconds
from streams.hub import StreamHub
from streams.packet import MediaPacket, StreamChange, StreamInfo

log = logging.getLogger(__name__)

# Recorder subscriptions hold more than a viewer's: a drop is a hole in evidence. At
# 25 fps + audio this is over a minute of packets, far beyond any seal or DB pause.
QUEUE_PACKETS = 4096


class SegmentWriter:
    """Subscribes to one camera's hub and writes sealed segments; `run()` is safe to cancel."""

    def __init__(
        self,
        camera_id: str,
        hub: StreamHub,
        store: SegmentStore,
        index: SegmentIndex,
        state: StorageState,
        events: RecordingEventSink,
        clock: Clock,
        segment_s: float,
        on_full: asyncio.Event | None = None,
        resumed_because: str = "recorder was not running",
        stream: str = "main",
        lease_epoch: int | None = None,
    ) -> None:
        self.camera_id = camera_id
        #: Which of the camera's streams `hub` carries ("main" or "sub"): its own files, chain and gaps.
        self.stream = stream
        #: The reason given to the gap between the last recording and this writer's first.
        self.resumed_because = resumed_because
        self.hub = hub
        self.store = store
        self.index = index
        self.state = state
        self.events = events
        self.clock = clock
        self.segment_s = segment_s
        self._on_full = on_full
        self._thread: MuxThread | None = None
        self._results: asyncio.Queue[Result | None] = asyncio.Queue()
        self._streams: tuple[StreamInfo, ...] = ()  # of the current connection
        self._connection = 0  # numbers the connections (the mux thread keeps audio encoders per connection)
        self._audio: dict[int, StreamInfo] = {}  # the connection's recorded audio beside its video
        self._preroll: Preroll[tuple[MediaPacket, int, int]] = Preroll()
        self._anchor: UtcAnchor | None = None  # None while no stream of the connection is recordable
        self._cutter = Cutter(segment_s)
        self._gaps = Gaps(camera_id, index, events, stream, lease_epoch)
        #: The camera lease this writer records under (several nodes; None: one node, no lease): its
        #: segments carry it, and the index refuses them once another node holds the camera.
        self.lease_epoch = lease_epoch
        self._indexer = SegmentIndexer(index, state, events, lease_epoch=lease_epoch, store=store)
        self._dropped_seen = 0

    @property
    def segments(self) -> list[SealedSegment]:
        """The segments this writer sealed and indexed, in order."""
        return self._indexer.indexed

    @property
    def fenced(self) -> list[SealedSegment]:
        """The segments it sealed that the index refused under a lost lease (quarantined)."""
        return self._indexer.fenced

    def lease_lost(self) -> None:
        """This node lost the camera's lease: its segments are tried once more at most, without waiting
        (recorder/indexing.py), so the writer stops at once."""
        self._indexer.mark_lease_lost()
        if self._thread is not None:
            self._thread.lease_lost = True

    async def run(self) -> None:
        """Record until cancelled; the open segment is sealed and indexed on the way out."""
        loop = asyncio.get_running_loop()
        tail = await self.index.tail(self.camera_id, self.stream)
        self._cutter.last_end = tail.end
        thread = MuxThread(self.store, self.camera_id, tail.sha256, loop, self._on_result, self.stream)
        self._thread = thread
        thread.start()
        consumer = asyncio.create_task(self._consume(), name=f"recorder-index-{self.camera_id}-{self.stream}")
        try:
            await self._gaps.resume(tail.end, self.resumed_because)
            name = f"recorder-{self.camera_id}" + ("" if self.stream == "main" else f"-{self.stream}")
            async with self.hub.subscribe(name, QUEUE_PACKETS) as sub:
                async for item in sub:
                    if isinstance(item, StreamChange):
                        await self._stream_change(item)
                        continue
                    if sub.dropped != self._dropped_seen:
                        lost = sub.dropped - self._dropped_seen
                        self._dropped_seen = sub.dropped
                        self._cut_for_gap(fell_behind_reason(lost))
                    await self._packet(item)
        finally:
            await uncancellable(self._shutdown(consumer))

    async def _shutdown(self, consumer: asyncio.Task[None]) -> None:
        thread = self._thread
        assert thread is not None
        try:
            await self._drain()
        except Exception:
            log.exception("camera %s: writing the last packets failed", self.camera_id)
        self._seal_at_last_packet(thread)
        thread.stop()
        await thread.done
        self._results.put_nowait(None)
        await consumer

    # ---- stream changes and packets ------------------------------------------------------
    async def _stream_change(self, change: StreamChange) -> None:
        await self._drain()
        self._cut_for_gap(stream_change_reason(change))
        self._streams = change.streams
        self._connection += 1
        usable = recorded_streams(change.streams)
        origin = next((s for s in usable if s.kind == "video"), usable[0] if usable else None)
        self._anchor = UtcAnchor(origin, (s.index for s in usable)) if origin is not None else None
        self._audio = {s.index: s for s in usable if s.kind == "audio" and origin is not None and origin.kind == "video"}
        self._preroll.clear()
        self._cutter.reconnected()
        if change.streams and origin is None:
            log.error("camera %s: no stream can be recorded to MP4 (%s)", self.camera_id,
                      ", ".join(s.codec for s in change.streams))
        await self._gaps.flush()

    def _cut_for_gap(self, reason: str) -> None:
        """Seal the open segment at its last packet; what follows is a gap until the next one."""
        if self._thread is not None:
            self._seal_at_last_packet(self._thread)
        if self._cutter.last_end is not None:
            self._gaps.stopped(self._cutter.last_end, reason)

    def _seal_at_last_packet(self, thread: MuxThread) -> None:
        cutter = self._cutter
        if cutter.is_open and cutter.last_end is not None:
            thread.seal(cutter.last_end, cutter.cut(cutter.last_end))

    async def _packet(self, packet: MediaPacket) -> None:
        anchor = self._anchor
        if anchor is None or self._thread is None:
            return
        for pkt, pts, dts in anchor.push(packet):
            await self._timed(anchor, pkt, pts, dts)

    async def _drain(self) -> None:
        """Write what the anchor still holds back (the connection ended within its window)."""
        anchor = self._anchor
        if anchor is None:
            return
        for pkt, pts, dts in anchor.drain():
            await self._timed(anchor, pkt, pts, dts)

    async def _timed(self, anchor: UtcAnchor, packet: MediaPacket, pts: int, dts: int) -> None:
        thread, cutter, origin = self._thread, self._cutter, anchor.origin
        assert thread is not None
        starts = starts_segment(packet, origin)
        if starts and cutter.due(pts, origin.time_base):
            end = anchor.utc(pts)
            # The connection goes on into the next segment (unless storage is full and none opens):
            # audio up to this packet still belongs to the one sealed (recorder/interleave.py).
            boundary = None if self.state.full else seconds(pts, origin.time_base)
            thread.seal(end, cutter.cut(end), boundary)
        if not cutter.is_open:
            if not starts or self.state.full:
                audio = self._audio.get(packet.stream)
                if audio is not None and not self.state.full:
                    self._preroll.hold((packet, pts, dts), packet.stream, seconds(pts, audio.time_base),
                                       audio_length(audio.codec, audio.sample_rate, audio.channels, len(packet.data)))
                return
            if cutter.state is SegmentState.FAILED:
                thread.resume()
            start = anchor.start_at(pts, cutter.last_end)
            thread.open(self._streams, start, packet, dts, self._connection)
            cutter.opened(pts)
            await self._gaps.end(start)
            for early in self._preroll.take(seconds(pts, origin.time_base)):
                thread.packet(*early)
        thread.packet(packet, pts, dts)
        if packet.stream == origin.index:
            end_pts = cutter.written(pts, dts, anchor.drift(packet.wallclock, pts))
            cutter.extend(anchor.utc(end_pts))

    # ---- results from the thread ---------------------------------------------------------
    def _on_result(self, result: Result) -> None:
        if isinstance(result, Failed):
            # Everything after the failure is lost until the next segment opens.
            start = result.salvaged.end if result.salvaged else result.start
            resume_from = None if start == datetime.min else start
            self._cutter.failed(resume_from)
            if resume_from is not None:
                self._gaps.stopped(resume_from, failure_reason(result.disk_full, result.error))
            if result.disk_full:
                self.state.trip(f"storage full at {self.store.root}")
                if self._on_full is not None:
                    self._on_full.set()
        self._results.put_nowait(result)

    async def _consume(self) -> None:
        while (result := await self._results.get()) is not None:
            segment = result.segment if isinstance(result, Sealed) else result.salvaged
            if isinstance(result, Failed):
                await self._gaps.flush()
                if result.disk_full:
                    await emit(self.events, RecordingEvent(
                        RecordingEventKind.STORAGE_FULL, self.camera_id, reason=result.error))
            if segment is not None:
                await self._indexer.add(segment)


def recorded_streams(streams: tuple[StreamInfo, ...]) -> list[StreamInfo]:
    """The streams of a connection that are recorded: what MP4 holds as it is, and beside video the
    sound the recorder transcodes to AAC (G.711 and the like; an audio-only camera's is not)."""
    video = any(s.kind == "video" and recordable(s) for s in streams)
    return [s for s in streams if recordable(s) or (video and needs_transcode(s))]
