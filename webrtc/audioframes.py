"""A camera's sound in 20 ms pieces: G.711 packets cut as they are, anything else decoded and
resampled to the codec's rate, each piece with the camera time of its first sample.

Decoding is cheap enough for the event loop: decoding 16 kHz mono AAC, resampling it to 48 kHz
and cutting it (with the lip-sync bookkeeping) costs about 0.5 ms per second of sound, 0.05% of
a core per viewer (bench/liveaudio.py): about 10 us per 20 ms piece, less than a hand-off to a
thread would cost. Opus encoding (about 6 ms per second of sound) is aiortc's, which runs it in
its executor.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction

import av
import av.error

from streams.packet import StreamInfo

log = logging.getLogger(__name__)

PIECE_S = Fraction(1, 50)  # 20 ms: WebRTC's usual packet time, one Opus frame
# A piece whose start is this far from where the previous one ended starts a new run (lost
# packets, a reconnect): the buffered rest is dropped rather than glued to the new sound.
DISCONTINUITY_S = 0.06
G711_RATE = 8000


@dataclass(frozen=True, slots=True)
class Piece:
    """Up to 20 ms of sound: G.711 bytes as sent, or s16 mono PCM at the target rate."""

    at: float  # camera time of the first sample, seconds
    data: bytes
    samples: int


def seconds(ts: int | None, time_base: Fraction) -> float | None:
    """A packet timestamp in seconds (None stays None)."""
    return None if ts is None else float(ts * time_base)


def g711_pieces(data: bytes, at: float) -> list[Piece]:
    """A G.711 packet (one byte per sample at 8 kHz) in pieces of at most 20 ms, bytes untouched."""
    size = int(G711_RATE * PIECE_S)
    return [Piece(at + offset / G711_RATE, data[offset:offset + size], len(data[offset:offset + size]))
            for offset in range(0, len(data), size)]


class PcmShaper:
    """Decodes one camera audio stream and cuts it into 20 ms s16 mono pieces at `rate`."""

    def __init__(self, info: StreamInfo, rate: int) -> None:
        self.info = info
        self.rate = rate
        self._piece = int(rate * PIECE_S)
        self._decoder = av.CodecContext.create(info.codec, "r")
        if info.extradata:
            self._decoder.extradata = info.extradata
        if info.sample_rate:
            self._decoder.sample_rate = info.sample_rate
        if info.channels in (1, 2):
            self._decoder.layout = "mono" if info.channels == 1 else "stereo"
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        self._pending = bytearray()
        self._pending_at: float | None = None  # camera time of the first pending sample
        self.errors = 0

    def push(self, data: bytes, at: float) -> list[Piece]:
        """Decode one packet of camera time `at`; the whole pieces now available."""
        try:
            frames = self._decoder.decode(av.Packet(data))
        except av.error.FFmpegError as exc:
            self.errors += 1
            if self.errors == 1:
                log.warning("%s sound does not decode (%s); the packet is skipped", self.info.codec, exc)
            return []
        pcm = bytearray()
        for frame in frames:
            for out in self._resampler.resample(frame):
                pcm += out.to_ndarray().tobytes()
        return self._cut(bytes(pcm), at)

    def _cut(self, pcm: bytes, at: float) -> list[Piece]:
        if self._pending_at is not None:
            ends = self._pending_at + len(self._pending) / 2 / self.rate
            if abs(at - ends) > DISCONTINUITY_S:
                self._pending.clear()
                self._pending_at = None
        if self._pending_at is None:
            self._pending_at = at
        self._pending += pcm
        pieces = []
        size = 2 * self._piece
        while len(self._pending) >= size:
            pieces.append(Piece(self._pending_at, bytes(self._pending[:size]), self._piece))
            del self._pending[:size]
            self._pending_at += float(PIECE_S)
        return pieces
