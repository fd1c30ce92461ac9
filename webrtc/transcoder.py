"""One camera's wall transcode: its video decoded and encoded as H.264 once, for all its viewers.

The transcoder subscribes to the camera's hub like any consumer and publishes H.264 to a hub of
its own, so viewers take it exactly as they take a camera's H.264: `HubVideoTrack`, the GOP cache
for a late joiner, bounded drop-oldest queues for a slow one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor

from core.waiting import uncancellable
from streams.hub import StreamHub
from streams.packet import MediaPacket, StreamChange, StreamInfo
from webrtc.reencode import Reencoder, ReencodeCounts

log = logging.getLogger(__name__)

# The transcoder's queue at the camera's hub: about 2 s of 25 fps video and its audio. When the
# thread cannot keep up, the hub drops the oldest and restarts the queue at a keyframe, so a
# starved transcoder skips ahead instead of falling ever further behind the camera.
SOURCE_QUEUE = 96
# A packet older than this when its turn comes (the cached GOP a new transcoder starts from, a
# backlog after a stall) is decoded for its reference pictures but not encoded: the viewer gets
# the present, not a burst of the past.
STALE_S = 0.5
# ...except that a picture goes out at least this often, so a machine too slow to keep up still
# shows something moving rather than nothing.
MIN_ENCODE_INTERVAL_S = 1.0


class TranscodeFailed(Exception):
    """The camera's video could not be transcoded (see the message)."""


class Transcoder:
    """Transcodes one camera for the wall while `run()` runs; viewers subscribe to `hub`."""

    def __init__(self, camera_id: str, source: StreamHub, target_width: int, queue_size: int) -> None:
        self.camera_id = camera_id
        self.target_width = target_width
        self._source = source
        #: The H.264 the viewers of this camera receive.
        self.hub = StreamHub(f"{camera_id}:h264", queue_size)
        #: Set by the thread's reencoder: what it did so far (read for metrics; ints only).
        self.counts = ReencodeCounts()
        self._last_encode = 0.0

    async def run(self) -> None:
        """Transcode until cancelled; raises TranscodeFailed when the video cannot be transcoded."""
        loop = asyncio.get_running_loop()
        # One thread of its own: PyAV's codec contexts stay in one thread, and a slow transcode
        # never holds up the default executor that ingest, recording and exports share.
        executor = ThreadPoolExecutor(1, thread_name_prefix=f"transcode-{self.camera_id}")
        sub = self._source.subscribe(f"transcode:{self.camera_id}", SOURCE_QUEUE)
        reencoder: Reencoder | None = None
        video: StreamInfo | None = None
        try:
            while True:
                try:
                    item = await sub.get()
                except StopAsyncIteration:
                    return
                if isinstance(item, StreamChange):
                    if reencoder is not None:
                        await loop.run_in_executor(executor, reencoder.close)
                        reencoder = None
                    video = next((s for s in item.streams if s.kind == "video"), None)
                    if video is None:
                        self.hub.set_streams((), item.reason or "the camera stopped")
                        continue
                    reencoder = await loop.run_in_executor(executor, self._reencoder, video)
                    continue
                if reencoder is None or video is None or item.stream != video.index:
                    continue  # audio: the wall's transcode is video only
                out = await loop.run_in_executor(executor, reencoder.feed, item, self._fresh(item))
                self._publish(reencoder, out)
        except Exception as exc:
            raise TranscodeFailed(str(exc)) from exc
        finally:
            sub.close()
            self.hub.set_streams((), "transcoding stopped")
            await _finish(executor, reencoder)

    def _reencoder(self, video: StreamInfo) -> Reencoder:
        reencoder = Reencoder(video, self.target_width)
        reencoder.counts = self.counts  # one tally across reconnects
        return reencoder

    def _fresh(self, item: MediaPacket) -> bool:
        now = time.monotonic()
        if now - item.received < STALE_S or now - self._last_encode >= MIN_ENCODE_INTERVAL_S:
            self._last_encode = now
            return True
        return False

    def _publish(self, reencoder: Reencoder, packets: list[MediaPacket]) -> None:
        output = reencoder.output
        if output is not None and self.hub.streams != (output,):
            self.hub.set_streams((output,))  # first picture, or a new size
        for packet in packets:
            self.hub.publish(packet)


async def _finish(executor: ThreadPoolExecutor, reencoder: Reencoder | None) -> None:
    """Close the codecs in their thread once its current packet is done, and wait for the thread to
    end, even when cancelled meanwhile (the codecs must not be freed under a running decode)."""
    closing: Future[None] = executor.submit(_close, reencoder)
    executor.shutdown(wait=False)
    await uncancellable(asyncio.wrap_future(closing))


def _close(reencoder: Reencoder | None) -> None:
    if reencoder is not None:
        reencoder.close()
