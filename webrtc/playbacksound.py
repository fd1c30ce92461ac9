"""The recorded sound of a playback: AAC read with the picture, decoded into 20 ms frames that
aiortc encodes (Opus), each sent when the player's clock says its moment is due.

Sound plays at real time only: while paused, played out, between a gap and the next frame, or
at any other speed, none is sent (as most VMS do: sound at 2x is noise, and at 0.5x it would
need time-stretching). What is read meanwhile is dropped, so sound never runs behind the picture.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import deque
from typing import Protocol

import av
import av.error
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from streams.packet import StreamInfo
from webrtc.audioframes import PcmShaper, Piece
from webrtc.audiotrack import STALE_S, RtpClock, audio_frame
from webrtc.playbackfeed import Sound

log = logging.getLogger(__name__)

# Recorded audio packets read ahead of the sound's clock (the picture reads ~10 s ahead; AAC at
# 48 kHz is ~47 packets a second); beyond it the oldest are dropped, so a track nobody pulls
# never stalls the reading of the picture.
SOUND_AHEAD = 1024
# How often a waiting sound looks at the player again (pause, seek, speed, the next frame's time).
POLL_S = 0.02


class SoundQueue:
    """Recorded audio packets read ahead, tagged with the player's seek epoch; drops the oldest."""

    def __init__(self, size: int = SOUND_AHEAD) -> None:
        self._items: deque[tuple[int, Sound]] = deque()
        self._size = size
        self._added = asyncio.Event()
        self.dropped = 0

    def put(self, epoch: int, sound: Sound) -> None:
        """Add without blocking; the oldest goes when full."""
        if len(self._items) >= self._size:
            self._items.popleft()
            self.dropped += 1
        self._items.append((epoch, sound))
        self._added.set()

    def get_nowait(self) -> tuple[int, Sound] | None:
        """The oldest packet, or None."""
        return self._items.popleft() if self._items else None

    async def get(self) -> tuple[int, Sound]:
        """The oldest packet, waiting for one."""
        while not self._items:
            self._added.clear()
            await self._added.wait()
        return self._items.popleft()

    def clear(self) -> None:
        """Forget what was read (a seek)."""
        self._items.clear()


class SoundState(enum.Enum):
    """What the sound does now: play with the picture, wait (paused, in a gap), or drop (not 1x)."""

    PLAY = "play"
    HOLD = "hold"
    DROP = "drop"


class Pacing(Protocol):
    """What the sound asks of its player."""

    @property
    def epoch(self) -> int: ...

    @property
    def stopped(self) -> bool: ...

    @property
    def sound_queue(self) -> SoundQueue | None: ...

    def sound_state(self) -> SoundState:
        """Whether the sound plays now, waits, or is dropped."""
        ...

    def due_at(self, at: float) -> float:
        """The loop time the recorded moment `at` is due (only while the sound plays)."""
        ...

    def out_time(self, due: float) -> float | None:
        """Seconds of the viewer's clock at loop time `due` (None before the first frame)."""
        ...


class PlaybackSoundTrack(MediaStreamTrack):
    """The audio track aiortc's sender pulls: decoded recorded sound as `av.AudioFrame`s at `rate`."""

    kind = "audio"

    def __init__(self, rate: int) -> None:
        super().__init__()
        self.rate = rate
        # Set once the playback is authorized (the offer is negotiated before).
        self.player: Pacing | None = None
        self._shaper: PcmShaper | None = None
        self._undecodable: StreamInfo | None = None  # a stream whose codec FFmpeg cannot decode
        self._ready: deque[Piece] = deque()
        self._epoch = -1
        # On the viewer's clock, like the picture's stamps: moved on by pauses and seeks.
        self._clock = RtpClock(rate, max_gap_s=None)
        #: 20 ms frames sent.
        self.sent = 0

    async def recv(self) -> av.AudioFrame:  # type: ignore[override]
        """The next 20 ms of recorded sound, when it is due."""
        loop = asyncio.get_running_loop()
        while True:
            player = self.player
            if self.readyState != "live" or player is None or player.stopped:
                raise MediaStreamError
            queue = player.sound_queue
            if queue is None:
                raise MediaStreamError
            if player.epoch != self._epoch:  # a seek: what was decoded belongs to the old place
                self._epoch = player.epoch
                self._ready.clear()
                self._shaper = None
            state = player.sound_state()
            if state is not SoundState.PLAY:
                if state is SoundState.DROP:  # another speed: what is read now is never heard
                    self._ready.clear()
                    while queue.get_nowait() is not None:
                        pass
                await asyncio.sleep(POLL_S)
                continue
            if not self._ready:
                epoch, sound = await queue.get()
                if epoch == self._epoch:
                    self._decode(sound)
                continue
            piece = self._ready[0]
            due, now = player.due_at(piece.at), loop.time()
            if now - due > STALE_S:
                self._ready.popleft()
                continue
            if due > now:
                await asyncio.sleep(min(due - now, POLL_S))
                continue
            out = player.out_time(due)
            if out is None:  # the picture's first frame has not gone yet
                await asyncio.sleep(POLL_S)
                continue
            self._ready.popleft()
            return self._frame(piece, out)

    def _decode(self, sound: Sound) -> None:
        if self._shaper is None or self._shaper.info != sound.stream:
            if sound.stream == self._undecodable:
                return
            try:
                self._shaper = PcmShaper(sound.stream, self.rate)
            except (ValueError, av.error.FFmpegError) as exc:
                log.warning("recorded sound is %s, which cannot be decoded: none is sent (%s)",
                            sound.stream.codec, exc)
                self._undecodable = sound.stream
                return
        self._ready.extend(self._shaper.push(sound.data, sound.at))

    def _frame(self, piece: Piece, out: float) -> av.AudioFrame:
        self.sent += 1
        return audio_frame(piece, self.rate, self._clock.stamp(out, piece.samples))
