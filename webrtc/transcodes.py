"""The wall's transcodes: one per camera shared by all its viewers, at most `webrtc.max_transcodes`
cameras at once, each stopped when its last viewer leaves."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from core.clock import Clock
from core.errors import Unavailable
from streams.hub import StreamHub
from webrtc.livevideo import Refusal, TranscodeUnavailable
from webrtc.transcoder import TranscodeFailed, Transcoder

log = logging.getLogger(__name__)

# Retry-After when the cap is reached: a wall tile tries again after this (viewers come and go).
BUSY_RETRY_S = 10.0
# A camera whose transcode failed is not tried again for this long (its viewers are told why),
# so a camera sending what cannot be decoded does not restart a doomed transcoder every second.
FAILED_HOLD_S = 30.0


@dataclass(eq=False)
class _Running:
    transcoder: Transcoder
    codec: str
    viewers: int = 0
    task: asyncio.Task[None] | None = None
    failed: asyncio.Event = field(default_factory=asyncio.Event)
    failure: str = ""


@dataclass(eq=False)
class TranscodeLease:
    """One viewer's share of a camera's transcode: subscribe to `hub`; release() when done."""

    camera_id: str
    _entry: _Running
    _owner: Transcodes
    released: bool = False

    @property
    def hub(self) -> StreamHub:
        return self._entry.transcoder.hub

    @property
    def source_codec(self) -> str:
        """The codec the camera sends (what is transcoded)."""
        return self._entry.codec

    @property
    def failed(self) -> asyncio.Event:
        """Set when the transcode failed; `failure` says why."""
        return self._entry.failed

    @property
    def failure(self) -> str:
        return self._entry.failure

    def release(self) -> None:
        """Give the share back (idempotent); the last one stops the transcode."""
        if not self.released:
            self.released = True
            self._owner._release(self.camera_id, self._entry)


class Transcodes:
    """Owns the running transcoders; `run()` (in the WHEP sessions' TaskGroup) awaits them all."""

    def __init__(self, limit: int, width: int, clock: Clock, queue_size: int = 128) -> None:
        #: Cameras transcoded at once (webrtc.max_transcodes); 0 transcodes none.
        self.limit = limit
        self.width = width
        self._queue_size = queue_size
        self._clock = clock
        self._running: dict[str, _Running] = {}
        self._failed_at: dict[str, tuple[float, str, str]] = {}  # camera -> (monotonic, codec, why)
        self._tasks: asyncio.TaskGroup | None = None

    async def run(self) -> None:
        """Run transcoders as viewers ask for them, until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            try:
                await asyncio.Event().wait()
            finally:
                self._tasks = None
                for entry in self._running.values():
                    if entry.task is not None:
                        entry.task.cancel()

    @property
    def cameras(self) -> list[str]:
        """The cameras being transcoded now."""
        return sorted(self._running)

    def viewers(self, camera_id: str) -> int:
        """Viewers sharing `camera_id`'s transcode (0 when it is not transcoded)."""
        entry = self._running.get(camera_id)
        return entry.viewers if entry is not None else 0

    def transcoder(self, camera_id: str) -> Transcoder | None:
        """The running transcoder of `camera_id`, if any."""
        entry = self._running.get(camera_id)
        return entry.transcoder if entry is not None else None

    def join(self, camera_id: str, source: StreamHub, codec: str) -> TranscodeLease:
        """A share of `camera_id`'s transcode, started for the first viewer; TranscodeUnavailable
        (503 with Retry-After) when the cap is reached or the camera's transcode just failed."""
        if self._tasks is None:
            raise Unavailable("transcoding is not being served (starting or stopping)")
        entry = self._running.get(camera_id)
        if entry is None:
            entry = self._start(camera_id, source, codec)
        entry.viewers += 1
        return TranscodeLease(camera_id, entry, self)

    def _start(self, camera_id: str, source: StreamHub, codec: str) -> _Running:
        assert self._tasks is not None
        failed = self._failed_at.get(camera_id)
        if failed is not None:
            left = failed[0] + FAILED_HOLD_S - self._clock.monotonic()
            if left > 0:
                raise TranscodeUnavailable(Refusal.TRANSCODE_FAILED, failed[1],
                                           f"transcoding camera {camera_id!r} failed: {failed[2]}", left, self.limit)
            del self._failed_at[camera_id]
        if len(self._running) >= self.limit:
            raise TranscodeUnavailable(
                Refusal.TRANSCODE_BUSY, codec,
                f"{len(self._running)} of {self.limit} transcodes are running (webrtc.max_transcodes: "
                f"{', '.join(self.cameras)}); camera {camera_id!r} sends {codec} and must wait for one to end",
                BUSY_RETRY_S, self.limit)
        transcoder = Transcoder(camera_id, source, self.width, self._queue_size)
        entry = _Running(transcoder, codec)
        self._running[camera_id] = entry
        entry.task = self._tasks.create_task(self._serve(camera_id, entry), name=f"transcode:{camera_id}")
        log.info("camera %s: transcoding %s to H.264 for the wall (%d of %d)", camera_id, codec,
                 len(self._running), self.limit, extra={"camera": camera_id})
        return entry

    async def _serve(self, camera_id: str, entry: _Running) -> None:
        try:
            await entry.transcoder.run()
        except TranscodeFailed as exc:
            entry.failure = str(exc)
            self._failed_at[camera_id] = (self._clock.monotonic(), entry.codec, entry.failure)
            log.warning("camera %s: transcoding failed: %s", camera_id, exc, extra={"camera": camera_id})
            entry.failed.set()  # its viewers' sessions end, saying why
        else:  # its source went away without a cancel: nothing more will come for its viewers
            entry.failure = "the camera's stream ended"
            entry.failed.set()
        finally:
            if self._running.get(camera_id) is entry:
                del self._running[camera_id]
            counts = entry.transcoder.counts
            log.info("camera %s: transcoding stopped: %d packets, %d frames decoded, %d encoded, %d skipped, "
                     "%d decode errors", camera_id, counts.packets, counts.decoded, counts.encoded, counts.skipped,
                     counts.decode_errors, extra={"camera": camera_id})

    def _release(self, camera_id: str, entry: _Running) -> None:
        entry.viewers -= 1
        if entry.viewers > 0:
            return
        # The last viewer left: the camera no longer counts against the cap, and its thread ends
        # after the packet in hand. A viewer arriving now starts a fresh transcoder.
        if self._running.get(camera_id) is entry:
            del self._running[camera_id]
        if entry.task is not None:
            entry.task.cancel()
