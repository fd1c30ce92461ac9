"""The worker thread that owns one camera's muxer: packets in order, segments sealed in order."""

from __future__ import annotations

import asyncio
import errno
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import assert_never

from recorder.muxer import SegmentMuxer
from recorder.recovery import salvage
from recorder.segment import SealedSegment
from recorder.store import SegmentStore
from recorder.timeline import TimedPacket
from streams.packet import MediaPacket, StreamInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Sealed:
    """A segment was sealed (fsynced, renamed, read-only) and is ready for the index."""

    segment: SealedSegment


@dataclass(frozen=True, slots=True)
class Failed:
    """Writing a segment failed; what could be saved of it was sealed as `salvaged`."""

    start: datetime
    error: str
    disk_full: bool
    salvaged: SealedSegment | None


Result = Sealed | Failed


# Commands from the event loop to the thread, run in the order given.
@dataclass(frozen=True, slots=True)
class Open:
    """Open a segment at `start`; `first` is its first packet, on the stream that starts fragments."""

    streams: tuple[StreamInfo, ...]
    start: datetime
    first: MediaPacket
    first_dts: int


@dataclass(frozen=True, slots=True)
class Write:
    """Mux these packets, with their repaired timestamps, into the open segment (the loop hands
    the list over and keeps no reference to it)."""

    packets: list[TimedPacket]


@dataclass(frozen=True, slots=True)
class Seal:
    """Seal the open segment; `cut_at` is when the loop decided to cut (monotonic seconds)."""

    end: datetime
    drift_ms: float
    cut_at: float


@dataclass(frozen=True, slots=True)
class Resume:
    """Accept segments again after a failure."""


@dataclass(frozen=True, slots=True)
class Stop:
    """End the thread once the commands before this one have run."""


Command = Open | Write | Seal | Resume | Stop


# Packets held on the loop side at most before the thread gets them (a long GOP, or audio).
HOLD_MAX = 128


def _disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    # FFmpeg reports a failed write through its own error (errno is kept).
    return getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT)


class MuxThread:
    """Runs commands from the event loop in order; reports each seal or failure back to it."""

    def __init__(
        self,
        store: SegmentStore,
        camera: str,
        prev_sha256: str | None,
        loop: asyncio.AbstractEventLoop,
        on_result: Callable[[Result], None],
    ) -> None:
        self.store = store
        self.camera = camera
        self.prev_sha256 = prev_sha256
        self._loop = loop
        self._on_result = on_result
        self._commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self._held: list[TimedPacket] = []  # loop side: the fragment so far
        self._fragment_stream: int | None = None  # the stream whose keyframes start fragments
        self._muxer: SegmentMuxer | None = None
        self._failed = False
        self.done: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(target=self._run, name=f"recorder-{camera}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    # ---- called on the event loop -------------------------------------------------------
    # Packets go to the thread a fragment at a time, handed over with the keyframe that ends
    # it: the MP4 muxer writes a fragment to the file only when that keyframe reaches it
    # (frag_keyframe), so holding them here until then loses nothing on a crash, and the
    # thread (and the GIL hand-off) wakes once a GOP instead of once a packet. Every other
    # command hands over what is held first, so order is kept.
    def open(self, streams: tuple[StreamInfo, ...], start: datetime, first: MediaPacket, first_dts: int) -> None:
        self._flush()
        self._fragment_stream = first.stream
        self._commands.put(Open(streams, start, first, first_dts))

    def packet(self, packet: MediaPacket, pts: int, dts: int) -> None:
        self._held.append((packet, pts, dts))
        # A keyframe closes the fragment before it: the muxer writes that one out on seeing it.
        if (packet.is_keyframe and packet.stream == self._fragment_stream) or len(self._held) >= HOLD_MAX:
            self._flush()

    def seal(self, end: datetime, drift_ms: float) -> None:
        self._flush()
        self._commands.put(Seal(end, drift_ms, time.monotonic()))

    def resume(self) -> None:
        """Accept segments again after a failure."""
        self._flush()
        self._commands.put(Resume())

    def stop(self) -> None:
        """Seal nothing more; the thread ends after the commands already queued."""
        self._flush()
        self._commands.put(Stop())

    def _flush(self) -> None:
        if self._held:
            self._commands.put(Write(self._held))
            self._held = []

    # ---- worker thread --------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                command = self._commands.get()
                if isinstance(command, Stop):
                    break
                if isinstance(command, Resume):
                    self._failed = False
                    continue
                if self._failed:
                    continue
                try:
                    self._execute(command)
                except Exception as exc:
                    self._fail(exc)
        finally:
            if self._muxer is not None:  # stopped with a segment open: leave it for recovery
                self._fail(RuntimeError("stopped with a segment open"))
            self._post(None)

    def _execute(self, command: Open | Write | Seal) -> None:
        match command:
            case Write(packets):
                if self._muxer is not None:
                    write = self._muxer.write
                    for packet, pts, dts in packets:
                        write(packet, pts, dts)
            case Open(streams, start, first, first_dts):
                if self._muxer is not None:
                    raise RuntimeError("segment opened while another is open")
                self._muxer = SegmentMuxer(
                    self.store, self.camera, streams, start, self.prev_sha256, first, first_dts
                )
            case Seal(end, drift_ms, cut_at):
                muxer = self._muxer
                if muxer is None:
                    return
                sealed = muxer.seal(end, drift_ms, cut_at)
                self._muxer = None
                self.prev_sha256 = sealed.sha256
                self._post(Sealed(sealed))
            case _:
                assert_never(command)

    def _fail(self, exc: BaseException) -> None:
        muxer, self._muxer = self._muxer, None
        self._failed = True
        full = _disk_full(exc)
        detail = f"{type(exc).__name__}: {exc}"
        if full:
            log.error("camera %s: storage full while writing a segment", self.camera)
        else:
            log.error("camera %s: writing a segment failed: %s", self.camera, detail, exc_info=exc)
        if muxer is None:
            self._post(Failed(datetime.min, detail, full, None))
            return
        started = time.monotonic()
        partial = muxer.abandon()
        salvaged: SealedSegment | None = None
        try:
            if partial.exists():
                salvaged = salvage(self.store, partial, started)
        except Exception:
            log.exception("camera %s: salvaging %s failed; recovery retries on the next start",
                          self.camera, partial.name)
        if salvaged is not None:
            self.prev_sha256 = salvaged.sha256
        self._post(Failed(muxer.start, detail, full, salvaged))

    def _post(self, result: Result | None) -> None:
        try:
            self._loop.call_soon_threadsafe(self._deliver, result)
        except RuntimeError:
            log.error("camera %s: event loop closed; result of the recorder thread lost", self.camera)

    def _deliver(self, result: Result | None) -> None:
        if result is None:
            if not self.done.done():
                self.done.set_result(None)
            return
        self._on_result(result)
