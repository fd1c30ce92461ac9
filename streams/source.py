"""Blocking packet sources and the worker thread that hands their packets to the event loop."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Protocol

from core.config import CameraConfig
from core.errors import SourceError, SourceRefused
from core.redact import redact_url
from core.schemes import scheme_of
from streams import schemes
from streams.demo import DemoSource
from streams.packet import MediaPacket, StreamInfo
from streams.rtsp import RtspSource

# The built-in sources: importing them registers the schemes they open (streams/schemes.py).
__all__ = ["HANDOFF_MAX", "DemoSource", "PacketSource", "RtspSource", "SourceThread", "make_source"]

log = logging.getLogger(__name__)

# Packets waiting for the loop. The loop drains them in batches every time it gets to
# run; 256 packets is ~10 s of 25 fps video: only a loop stuck that long loses packets,
# and then the oldest go first (like the hub) instead of the thread blocking on a live feed.
HANDOFF_MAX = 256


# How long a cancelled camera waits for its worker before leaving it to its own timeout.
CANCEL_GRACE_S = 1.0

class PacketSource(Protocol):
    """A blocking source of packets; every method runs in the camera's worker thread."""

    def open(self) -> tuple[StreamInfo, ...]:
        """Connect and return the streams; raises SourceError."""
        ...

    def read(self) -> MediaPacket | None:
        """Next packet, or None at end of stream; raises SourceError."""
        ...

    def close(self) -> None:
        """Release the connection; safe to call twice or after a failed open."""
        ...


def make_source(config: CameraConfig) -> PacketSource:
    """The source for the camera's URL scheme; anything unknown is refused before libav."""
    opener = schemes.opener_for(config.source)
    if opener is None:
        scheme = scheme_of(config.source)
        raise SourceRefused(f"{redact_url(config.source)}: scheme {scheme or '(none)'!r} is not supported")
    return opener(config)


OnOpen = Callable[[tuple[StreamInfo, ...]], None]
OnPackets = Callable[[list[MediaPacket], int], None]
OnEnd = Callable[[str | SourceError], None]


class SourceThread:
    """Runs one connection (open, then read until stopped) in its own thread.

    Callbacks run on the event loop, in order: on_open once, on_packets with batches
    (and the number of packets the bounded handoff dropped), then on_end once with the
    reason the connection ended or its SourceError. `done` resolves after on_end.
    """

    def __init__(
        self,
        config: CameraConfig,
        loop: asyncio.AbstractEventLoop,
        on_open: OnOpen,
        on_packets: OnPackets,
        on_end: OnEnd,
        factory: Callable[[CameraConfig], PacketSource] = make_source,
    ) -> None:
        self.config = config
        self._loop = loop
        self._on_open = on_open
        self._on_packets = on_packets
        self._on_end = on_end
        self._factory = factory
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pending: deque[MediaPacket] = deque()
        self._dropped = 0
        self._drain_scheduled = False
        self.done: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(target=self._run, name=f"camera-{config.id}", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to finish; it notices after the current open or read returns."""
        self._stop.set()

    def is_alive(self) -> bool:
        """Whether the thread is still running."""
        return self._thread.is_alive()

    async def wait_stopped(self, limit_s: float) -> None:
        """Stop and wait (even through cancellation) until the thread has ended, up to limit_s."""
        self.stop()
        cancelled = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            # Called while the camera task is being cancelled (shutdown): see below.
            deadline = min(deadline, loop.time() + CANCEL_GRACE_S)
        # Open and read are bounded by their timeouts, so this wait is too; finishing it
        # even when cancelled is what guarantees no thread outlives Camera.run().
        while not self.done.done() and loop.time() < deadline:
            try:
                await asyncio.wait([self.done], timeout=deadline - loop.time())
            except asyncio.CancelledError:
                # Shutting down: PyAV cannot interrupt an open from outside, so a camera
                # mid-connect would hold shutdown for up to open_timeout_s. Wait briefly,
                # then leave the (daemon) thread to end at its own timeout; it sees the
                # stop flag and, with the loop gone, exits without touching it.
                if not cancelled:
                    deadline = min(deadline, loop.time() + CANCEL_GRACE_S)
                cancelled = True
        # After `done` the thread only has to return from call_soon_threadsafe: microseconds.
        while self._thread.is_alive() and self.done.done() and loop.time() < deadline + 1.0:
            try:
                await asyncio.sleep(0.002)
            except asyncio.CancelledError:
                cancelled = True
        if self._thread.is_alive():
            log.warning(
                "camera %s: worker thread still in an open or read; it ends at its timeout",
                self.config.id,
            )
        if cancelled:
            raise asyncio.CancelledError

    def _run(self) -> None:
        end: str | SourceError = "stopped"
        source: PacketSource | None = None
        try:
            source = self._factory(self.config)
            streams = source.open()
            self._call(self._on_open, streams)
            while not self._stop.is_set():
                packet = source.read()
                if packet is None:
                    end = "end of stream"
                    break
                self._push(packet)
        except SourceError as exc:
            end = exc
        except Exception as exc:  # a bug or an unexpected library error: report, don't die silently
            log.exception("camera %s: source failed unexpectedly", self.config.id)
            end = SourceError(f"{redact_url(self.config.source)}: unexpected {type(exc).__name__}")
        finally:
            if source is not None:
                try:
                    source.close()
                except Exception:
                    log.exception("camera %s: closing the source failed", self.config.id)
            self._call(self._finish, end)

    def _push(self, packet: MediaPacket) -> None:
        with self._lock:
            if len(self._pending) >= HANDOFF_MAX:
                self._pending.popleft()
                self._dropped += 1
            self._pending.append(packet)
            if self._drain_scheduled:
                return
            self._drain_scheduled = True
        self._call(self._drain)

    def _drain(self) -> None:
        with self._lock:
            batch = list(self._pending)
            self._pending.clear()
            dropped, self._dropped = self._dropped, 0
            self._drain_scheduled = False
        if batch or dropped:
            self._on_packets(batch, dropped)

    def _finish(self, end: str | SourceError) -> None:
        self._drain()  # packets read before the end still belong to this connection
        try:
            self._on_end(end)
        finally:
            if not self.done.done():
                self.done.set_result(None)

    def _call(self, callback: Callable[..., None], *args: object) -> None:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            # The loop is closed: nobody is left to receive packets; just end the thread.
            self._stop.set()
