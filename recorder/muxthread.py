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
from typing import assert_never, cast

from recorder.audiopath import AudioPath, has_audio_path
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
    """Open a segment at `start`; `first` is its first packet, on the stream that starts fragments.
    `connection` numbers the camera's connections: segments of one share its audio encoders."""

    streams: tuple[StreamInfo, ...]
    start: datetime
    first: MediaPacket
    first_dts: int
    connection: int = 0


@dataclass(frozen=True, slots=True)
class Write:
    """Mux these packets, with their repaired timestamps, into the open segment (the loop hands
    the list over and keeps no reference to it)."""

    packets: list[TimedPacket]


@dataclass(frozen=True, slots=True)
class Seal:
    """Seal the open segment; `cut_at` is when the loop decided to cut (monotonic seconds).
    `boundary`: the connection goes on into a next segment whose first packet is at this time
    (seconds on the connection's clock), so audio up to there still belongs to this one; None:
    the connection's recording ends here."""

    end: datetime
    drift_ms: float
    cut_at: float
    boundary: float | None = None


@dataclass(frozen=True, slots=True)
class Resume:
    """Accept segments again after a failure."""


@dataclass(frozen=True, slots=True)
class Stop:
    """End the thread once the commands before this one have run."""


Command = Open | Write | Seal | Resume | Stop


# Packets held on the loop side at most before the thread gets them (a long GOP, or audio).
HOLD_MAX = 128
# After a cut, the thread may be waiting for the audio after it (recorder/interleave.py) before it
# seals: the next packets go over in small batches instead of a GOP at once, so the seal is not a
# GOP late. EAGER_PACKETS packets, EAGER_BATCH at a time.
EAGER_PACKETS = 48
EAGER_BATCH = 8


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
        stream: str = "main",
    ) -> None:
        self.store = store
        self.camera = camera
        self.stream = stream  # the camera's "main" or "sub" stream: its own files and chain
        self._unplaced = 0  # packets written while no segment was open (said at the next open)
        self.prev_sha256 = prev_sha256
        self._loop = loop
        self._on_result = on_result
        self._commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self._held: list[TimedPacket] = []  # loop side: the fragment so far
        self._fragment_stream: int | None = None  # the stream whose keyframes start fragments
        self._eager = 0  # loop side: packets after a cut still handed over in small batches
        self._muxer: SegmentMuxer | None = None
        self._audio: AudioPath | None = None  # thread side: the connection's sound, if it has any
        self._failed = False
        #: Set from the loop when this node lost the camera's lease: the new owner's recovery may take
        #: the open segment's file away (sealing it, or moving it to quarantine), which is expected then.
        self.lease_lost = False
        self.done: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(target=self._run, name=f"recorder-{camera}" + ("" if stream == "main" else f"-{stream}"),
                                        daemon=True)

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
    def open(self, streams: tuple[StreamInfo, ...], start: datetime, first: MediaPacket, first_dts: int,
             connection: int = 0) -> None:
        self._flush()
        self._fragment_stream = first.stream
        self._commands.put(Open(streams, start, first, first_dts, connection))

    def packet(self, packet: MediaPacket, pts: int, dts: int) -> None:
        held = self._held
        held.append((packet, pts, dts))
        # A keyframe closes the fragment before it: the muxer writes that one out on seeing it.
        if (packet.is_keyframe and packet.stream == self._fragment_stream) or len(held) >= HOLD_MAX:
            self._flush()
        elif self._eager:
            self._eager -= 1
            if len(held) >= EAGER_BATCH or not self._eager:
                self._flush()

    def seal(self, end: datetime, drift_ms: float, boundary: float | None = None) -> None:
        """Seal the open segment; `boundary` as in `Seal`."""
        self._flush()
        self._commands.put(Seal(end, drift_ms, time.monotonic(), boundary))
        self._eager = EAGER_PACKETS if boundary is not None else 0

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
                    if not self._failed:
                        try:
                            self._end_audio()
                        except Exception as exc:
                            self._fail(exc)
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
        audio = self._audio
        match command:
            case Write(packets):
                if audio is not None:
                    for packet, pts, dts in packets:
                        audio.packet(packet, pts, dts)
                elif self._muxer is not None:
                    write = self._muxer.write
                    for packet, pts, dts in packets:
                        write(packet, pts, dts)
            case Open(streams, _, _, _, connection):
                if audio is not None and audio.connection != connection:
                    self._end_audio()  # the last connection ended without a final seal
                    audio = None
                if audio is None and has_audio_path(streams):
                    audio = self._audio = AudioPath(self.camera, connection, streams, self._step)
                if audio is not None:
                    audio.step(command)
                else:
                    self._open(command)
            case Seal(_, _, _, boundary):
                if audio is None:
                    self._seal(command)
                elif boundary is not None:
                    audio.cut(command, boundary)
                else:
                    self._end_audio()
                    self._seal(command)
            case _:
                assert_never(command)

    def _end_audio(self) -> None:
        """The connection's recording ends: the encoders' rest and every held step run."""
        audio = self._audio
        if audio is not None:
            audio.finish()  # held steps may still open a segment with its streams: keep it until done
            self._audio = None

    def _step(self, item: object) -> None:
        """Carry out one step the audio path lets through, in order."""
        if isinstance(item, Open):
            self._open(item)
        elif isinstance(item, Seal):
            self._seal(item)
        elif self._muxer is not None:
            timed = cast(TimedPacket, item)
            self._muxer.write(*timed)
        else:
            # Between a failed segment and the next keyframe this is expected; anywhere else it is
            # a misordering that loses media, so it is said (once per stretch) at the next open.
            self._unplaced += 1

    def _open(self, command: Open) -> None:
        if self._muxer is not None:
            raise RuntimeError("segment opened while another is open")
        if self._unplaced:
            log.warning("camera %s: %d packets came with no segment open and were not recorded",
                        self.camera, self._unplaced)
            self._unplaced = 0
        audio = self._audio
        streams = audio.streams if audio is not None else command.streams
        sources = audio.sources if audio is not None else {}
        self._muxer = SegmentMuxer(self.store, self.camera, streams, command.start, self.prev_sha256,
                                   command.first, command.first_dts, self.stream, sources)

    def _seal(self, command: Seal) -> None:
        muxer = self._muxer
        if muxer is None:
            return
        sealed = muxer.seal(command.end, command.drift_ms, command.cut_at)
        self._muxer = None
        self.prev_sha256 = sealed.sha256
        self._post(Sealed(sealed))

    def _fail(self, exc: BaseException) -> None:
        muxer, self._muxer = self._muxer, None
        self._failed = True
        # The audio of the connection goes with the segment: the next one starts a fresh encoder.
        self._audio = None
        full = _disk_full(exc)
        detail = f"{type(exc).__name__}: {exc}"
        if full:
            log.error("camera %s: storage full while writing a segment", self.camera)
        elif isinstance(exc, (FileNotFoundError, FileExistsError)):
            # The segment's file was taken away or its final name taken: on a cluster, by the recovery
            # of a node that took the camera over (this node may not have heard of the lost lease yet).
            # The path says which; a traceback would say nothing more.
            if self.lease_lost:
                log.warning("camera %s: segment not sealed here: the node that took the camera over "
                            "recovered its file (%s)", self.camera, detail)
            else:
                log.error("camera %s: writing a segment failed: its file was taken away by another "
                          "process (a node that took the camera over?): %s", self.camera, detail)
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
