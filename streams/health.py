"""Per-camera image health: sample a keyframe now and then, decode it off the loop, check it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Protocol

import av.error
import numpy as np

from core.clock import Clock
from core.config import HealthConfig
from streams.imagecheck import ANALYSIS_WIDTH, ImageChecker
from streams.keyframe import KeyframeDecoder
from streams.packet import MediaPacket, StreamChange

log = logging.getLogger(__name__)

# The monitor reads only one keyframe per interval; everything else is dropped by the hub
# (drop-oldest) while a decode runs, and the hub resumes a dropping subscriber at the next
# keyframe, so a small queue costs nothing and holds little memory.
QUEUE_SIZE = 16


class Subscription(Protocol):
    """What the monitor reads from the hub: an async iterator of packets and stream changes."""

    def __aiter__(self) -> Subscription: ...

    async def __anext__(self) -> MediaPacket | StreamChange: ...

    async def __aenter__(self) -> Subscription: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class PacketSource(Protocol):
    """The part of StreamHub the monitor needs."""

    def subscribe(self, name: str, maxsize: int | None = None) -> Subscription: ...


#: The problem raised when sampled keyframes keep failing to decode (a camera sending garbage, or
#: a codec it claims but does not send): the camera is up, its picture is not.
UNDECODABLE = "undecodable"
#: Consecutive sampled keyframes that must fail before the picture is called undecodable (a P-frame
#: flagged as a keyframe fails now and then on healthy cameras).
UNDECODABLE_AFTER = 5


class HealthMonitor:
    """Watches one camera's picture and reports the set of image problems whenever it changes."""

    def __init__(
        self,
        camera_id: str,
        hub: PacketSource,
        config: HealthConfig,
        clock: Clock,
        report: Callable[[tuple[str, ...]], None],
    ) -> None:
        self.camera_id = camera_id
        self.config = config
        self.problems: tuple[str, ...] = ()
        #: Video keyframes seen, samples decoded and checked, samples that did not decode.
        self.keyframes = 0
        self.samples = 0
        self.decode_failures = 0
        self._failed_in_a_row = 0
        self.checker = ImageChecker(config)
        self._hub = hub
        self._clock = clock
        self._report = report
        # Video size of the last connection with video; kept across stops to spot a new one.
        self._size: tuple[int, int] | None = None
        self._decoder: KeyframeDecoder | None = None
        self._next_sample_at = 0.0

    async def run(self) -> None:
        """Sample keyframes until cancelled."""
        extra = {"camera": self.camera_id}
        async with self._hub.subscribe("health", maxsize=QUEUE_SIZE) as sub:
            log.debug("camera %s: health monitor started", self.camera_id, extra=extra)
            async for item in sub:
                if isinstance(item, StreamChange):
                    self._on_streams(item)
                    continue
                decoder = self._decoder
                if decoder is None or item.stream != decoder.info.index or not item.is_keyframe:
                    continue
                self.keyframes += 1
                now = self._clock.monotonic()
                if now < self._next_sample_at:
                    continue
                self._next_sample_at = now + self.config.sample_interval_s
                # Sequential by construction: the next item (a StreamChange too) is read only
                # after this decode returns, so at most one decode per camera is in flight.
                gray = await asyncio.to_thread(decoder.decode_gray, item, ANALYSIS_WIDTH)
                if gray is None:
                    # Some cameras (and FFmpeg's RTSP demuxer on x264 scene cuts) flag P-frames
                    # as keyframes; those do not decode alone. Try the next keyframe instead of
                    # waiting another interval; a failed NONKEY decode costs next to nothing.
                    self._next_sample_at = now
                self._on_picture(gray)

    def _on_streams(self, change: StreamChange) -> None:
        """A (re)connect or a stop: new decoder, fresh frozen counter, maybe a new reference."""
        video = next((s for s in change.streams if s.kind == "video"), None)
        self._decoder = None
        self._failed_in_a_row = 0
        self.checker.reset_frozen()
        self._next_sample_at = 0.0
        extra = {"camera": self.camera_id}
        if video is None:
            # No picture, no verdict on it: the camera's connection state says the rest.
            self._set_problems(())
            return
        size = (video.width, video.height)
        if self._size is not None and size != self._size:
            # Another resolution (or an unknown one) may be another framing: learn it anew.
            log.info(
                "camera %s: video now %dx%d, scene reference reset",
                self.camera_id,
                video.width,
                video.height,
                extra=extra,
            )
            self.checker.reset_reference()
        self._size = size
        try:
            self._decoder = KeyframeDecoder(video)
        except (ValueError, av.error.FFmpegError) as exc:  # UnknownCodecError is a ValueError
            log.warning(
                "camera %s: cannot decode %s for image checks: %s",
                self.camera_id,
                video.codec,
                exc,
                extra=extra,
            )

    def _on_picture(self, gray: np.ndarray | None) -> None:
        extra = {"camera": self.camera_id}
        if gray is None:
            self.decode_failures += 1
            self._failed_in_a_row += 1
            log.debug("camera %s: sampled keyframe did not decode", self.camera_id, extra=extra)
            if self._failed_in_a_row >= UNDECODABLE_AFTER:
                self._set_problems((UNDECODABLE,))
            return
        self._failed_in_a_row = 0
        self.samples += 1
        self._set_problems(self.checker.check(gray))

    def _set_problems(self, problems: tuple[str, ...]) -> None:
        if problems == self.problems:
            return
        log.info(
            "camera %s: image problems %s -> %s",
            self.camera_id,
            ",".join(self.problems) or "none",
            ",".join(problems) or "none",
            extra={"camera": self.camera_id},
        )
        self.problems = problems
        self._report(problems)
