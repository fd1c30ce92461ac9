"""Which segment each audio packet goes into: the one its middle falls in.

Segments are cut on video keyframes, and an audio packet (20 ms to 128 ms long) rarely ends right
there. The packet goes where most of it plays, so each segment's sound starts and ends within half a
packet of its picture. Two things make that a matter of order rather than of routing: audio that was
transcoded comes out of the encoder two AAC frames late (recorder/transcode.py), and a camera's
packets arrive interleaved by network timing, not by timestamp (audio often ahead of the picture).
So both wait for each other. A cut waits: the seal of a segment, the opening of the next and
everything after them are held until every audio stream's next packet lies after the cut. And audio
ahead of the picture waits until the video reaches its middle (a keyframe before it would cut a
segment first); then it runs into the segment that is open, or, when it lies after a held cut,
the held steps up to it run first.

A stream that stops (the camera went silent) cannot hold a cut for long: after `max_wait_s` of
video past the cut, the cut runs and that stream stops holding cuts until it sends again.

Pure: no I/O and no clock; the mux thread runs the steps (`run`) and says what each one is.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

# Video time a cut may wait for audio. Transcoded G.711 at 8 kHz needs about 0.4 s after the cut
# (two AAC frames of the encoder's delay plus the camera's packet), passthrough AAC one packet.
MAX_WAIT_S = 1.0


class AudioInterleaver(Generic[T]):
    """Runs a connection's steps in order, holding a cut until the audio before it has run."""

    def __init__(self, run: Callable[[T], None], max_wait_s: float = MAX_WAIT_S) -> None:
        self._run = run
        self.max_wait_s = max_wait_s
        # (step, cut time): the first is always a held cut; later ones wait behind it.
        self._held: deque[tuple[T, float | None]] = deque()
        self._next: dict[int, float] = {}  # per audio stream: the middle of its next packet (s)
        self._clock = -math.inf  # how far the video has come (s): audio up to here may run
        self._video = -math.inf  # the latest video step (s)
        self._frame = 0.0  # the last step between video steps: one frame
        # Audio ahead of the video: (packet, stream, middle, next middle), in arrival order.
        self._early: deque[tuple[T, int, float, float | None]] = deque()
        #: Cuts that ran without waiting for a stream (it had stopped sending).
        self.gave_up = 0
        #: Audio packets dropped at the end of a connection, after its last video frame.
        self.dropped = 0

    @property
    def holding(self) -> int:
        """Steps held behind a cut, and audio held for the video."""
        return len(self._held) + len(self._early)

    def step(self, item: T, at: float | None = None) -> None:
        """A step in order (a video packet, an open, a final seal); `at`: its time in seconds on the
        connection's clock, when it has one (a video packet): the video has come this far."""
        if at is not None and at > self._video:
            if self._video > -math.inf:
                self._frame = at - self._video
            self._video = at
            self._clock = max(self._clock, at)
        if not self._held:
            self._run(item)
        else:
            self._held.append((item, None))
            cut = self._held[0][1]
            assert cut is not None
            if at is not None and at - cut > self.max_wait_s:
                self._give_up(cut)
        self._catch_up()

    def cut(self, item: T, at: float) -> None:
        """A seal that cuts the connection at `at` (seconds): held until the audio before it has run.
        The keyframe that opens the next segment is at `at`, so the video has come up to just before
        it: audio whose middle is before `at` may run (into the segment this cut seals), audio whose
        middle is `at` itself belongs after the cut and waits for that keyframe's step, which comes
        after the open that follows this cut (run now, it would fall between the seal and the open,
        into no segment)."""
        self._held.append((item, at))
        self._clock = max(self._clock, math.nextafter(at, -math.inf))
        self._catch_up()
        self._release(self._watermark())

    def audio(self, item: T, stream: int, middle: float, next_middle: float | None) -> None:
        """An audio packet whose middle is at `middle`; `next_middle`: where the stream's next packet's
        middle will be (None: not known, the stream holds no cut)."""
        if middle > self._clock or self._early:
            early = self._early
            early.append((item, stream, middle, next_middle))
            if middle - max(self._clock, early[0][2]) > self.max_wait_s:
                # The picture stopped while the sound goes on (a camera whose video encoder hung):
                # the sound is not held for it any longer.
                while early:
                    self._audio(*early.popleft())
                return
            self._catch_up()
            return
        self._audio(item, stream, middle, next_middle)

    def progress(self, stream: int, next_middle: float | None) -> None:
        """The stream's next packet will have its middle at `next_middle` (a transcoder took input
        but has nothing out yet); None: the stream holds no cut."""
        if next_middle is None:
            self._next.pop(stream, None)
        else:
            self._next[stream] = next_middle
        self._release(self._watermark())

    def flush(self) -> None:
        """Run everything held (the connection ends); audio holds nothing after this. Audio that
        plays after the last video frame has ended is dropped: it lies in the gap that follows."""
        self._clock = max(self._clock, self._video + self._frame)  # where the last frame ends
        self._catch_up()
        self.dropped += len(self._early)
        self._early.clear()
        self._clock = math.inf
        self._next.clear()
        self._release(math.inf)

    def clear(self) -> None:
        """Forget everything held (the segment failed: the mux thread drops it)."""
        self._held.clear()
        self._early.clear()
        self._next.clear()

    def _audio(self, item: T, stream: int, middle: float, next_middle: float | None) -> None:
        self._release(middle)  # cuts before this packet's middle run first: it belongs after them
        self._run(item)
        self.progress(stream, next_middle)

    def _catch_up(self) -> None:
        """Run the audio the video has now reached, in arrival order."""
        early = self._early
        while early and early[0][2] <= self._clock:
            self._audio(*early.popleft())

    def _watermark(self) -> float:
        return min(self._next.values(), default=math.inf)

    def _release(self, upto: float) -> None:
        held = self._held
        while held:
            item, cut = held[0]
            if cut is not None and cut > upto:
                return
            held.popleft()
            self._run(item)

    def _give_up(self, cut: float) -> None:
        for stream in [s for s, at in self._next.items() if at < cut]:
            del self._next[stream]
        self.gave_up += 1
        self._release(self._watermark())




# Samples per byte of the PCM codecs cameras send (G.711: one byte per sample; L16: two).
_BYTES_PER_SAMPLE = {"pcm_alaw": 1, "pcm_mulaw": 1, "pcm_s16be": 2, "pcm_s16le": 2}


def audio_length(codec: str, sample_rate: int, channels: int, size: int) -> float | None:
    """Seconds one packet of `size` bytes plays, where the codec says so (PCM, AAC-LC's 1024
    samples); None where only the step to the next packet tells."""
    if sample_rate <= 0:
        return None
    if codec == "aac":
        return 1024 / sample_rate
    width = _BYTES_PER_SAMPLE.get(codec)
    if width is None:
        return None
    return size / (width * max(channels, 1)) / sample_rate


class Preroll(Generic[T]):
    """Audio that arrives while no segment is open, kept briefly: a connection's first keyframe
    often arrives after the sound that plays with it (they come in one burst at connect). When a
    segment opens, the packets whose middle lies at or after its first frame go in with it."""

    def __init__(self, keep: int = 64) -> None:
        self._held: deque[tuple[T, int, float, float | None]] = deque(maxlen=keep)

    def hold(self, item: T, stream: int, start: float, length: float | None) -> None:
        """An audio packet of `stream` starting at `start` seconds and lasting `length` (None: not
        known), with no segment to go into."""
        self._held.append((item, stream, start, length))

    def take(self, at: float) -> list[T]:
        """The held packets that play after `at` (by their middle), in order; the rest is dropped.
        A packet of unknown length lasts until the next of its stream (the last one: as long as
        the one before)."""
        starts: dict[int, list[float]] = {}
        for _, stream, start, _ in self._held:
            starts.setdefault(stream, []).append(start)
        seen: dict[int, int] = {}
        out: list[T] = []
        for item, stream, start, length in self._held:
            mine, n = starts[stream], seen.get(stream, 0)
            seen[stream] = n + 1
            if length is None:
                if n + 1 < len(mine):
                    length = mine[n + 1] - start
                else:
                    length = start - mine[n - 1] if n > 0 else 0.0
            if start + max(length, 0.0) / 2 >= at:
                out.append(item)
        self._held.clear()
        return out

    def clear(self) -> None:
        self._held.clear()
