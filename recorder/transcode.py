"""Sound MP4 cannot hold (G.711 A-law and mu-law, G.726, L16...) re-encoded to AAC-LC for the
segments, one stream of one connection at a time (worker thread only: the mux thread owns it).

Video is never transcoded, and AAC (or anything else MP4 holds) is stored as the camera sent it.

Timing. The camera's packets carry RTP-derived timestamps in samples; a G.711 packet is 20-40 ms
(160-320 samples at 8 kHz) while an AAC frame is 1024 samples, and FFmpeg's encoder answers two
frames late (its first packet is 1024 samples of priming, stamped before the first input). So the
decoded samples are laid on a sample clock that starts at the first packet's timestamp and runs
continuously: a packet that arrives more than RESYNC_S away from where the clock expects it
(lost packets, a camera clock step) is met with silence or trimmed, so the AAC frames never
drift from the camera's time by more than that. Every output packet is stamped at the clock
position of its first sample, in 1/rate units (G.711's 8 kHz is stored at 16 kHz: MIN_RATE), and
the priming packet is dropped: the first frame of a connection decodes with a short fade-in,
like any AAC stream cut mid-way. One encoder runs for the whole connection, so consecutive
segments hold consecutive AAC frames and their concatenation plays without a seam.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from fractions import Fraction

import av
import numpy as np

from streams.packet import MediaPacket, StreamInfo

log = logging.getLogger(__name__)

#: What the transcoded sound is stored as.
AAC = "aac"
#: Sample rates AAC-LC signals directly (ISO 14496-3 samplingFrequencyIndex); others are resampled.
AAC_RATES = frozenset({96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350})
#: AAC-LC frame length in samples (FFmpeg's encoder takes exactly this, the last frame may be shorter).
FRAME = 1024
# Sound below this rate (G.711's 8 kHz) is stored at it. A segment holds whole AAC frames, cut on
# video keyframes, so its sound starts and ends within half a frame of its picture: at 8 kHz a
# frame is 128 ms and a 2 s segment's sound could last up to 128 ms more or less than its video;
# at 16 kHz a frame is 64 ms and they match within 64 ms. Upsampling G.711 adds nothing to hear
# and loses nothing; it costs about twice the (small) encoding time (bench/audio.py).
MIN_RATE = 16000
# 32 kbit/s per channel: well above what G.711's 3.4 kHz band needs at 8 kHz (its own rate is
# 64 kbit/s), and within the native encoder's per-frame limit at 8 kHz (6144 bits, 48 kbit/s).
BITRATE_PER_CHANNEL = 32000
# A packet this far from where the sample clock expects it is a gap (silence is put in) or an
# overlap (samples are dropped); smaller jitter is ignored. 20 ms: a G.711 packet is 20-40 ms, so
# one lost packet is always caught, and nothing on the clock is further than this from the camera.
RESYNC_S = 0.02
# A gap longer than this is not filled with silence: the clock jumps (the MP4 sample before it
# lasts longer), so a camera that stopped sending sound for minutes costs no CPU to make it up.
MAX_FILL_S = 5.0


class TranscodeError(Exception):
    """The stream cannot be transcoded (no decoder, unknown rate): its sound is not recorded."""


def transcodable(info: StreamInfo) -> bool:
    """Whether FFmpeg can decode `info` (an audio stream) so the recorder can re-encode it."""
    if info.kind != "audio":
        return False
    try:
        av.CodecContext.create(info.codec, "r")
    except (ValueError, av.error.FFmpegError):
        return False
    return info.sample_rate > 0


def _layout(channels: int) -> str:
    return "mono" if channels <= 1 else "stereo"


class AudioTranscoder:
    """Decodes one camera audio stream and re-encodes it to AAC-LC on a continuous sample clock."""

    def __init__(self, source: StreamInfo) -> None:
        if not transcodable(source):
            raise TranscodeError(f"{source.codec} at {source.sample_rate} Hz cannot be decoded")
        self.source = source
        rate = source.sample_rate
        self.rate = rate if rate in AAC_RATES and rate >= MIN_RATE else MIN_RATE
        self.channels = 1 if source.channels <= 1 else 2
        self.time_base = Fraction(1, self.rate)
        self._in_scale = source.time_base * self.rate  # source ticks -> output samples
        self._decoder = av.CodecContext.create(source.codec, "r")
        self._decoder.sample_rate = source.sample_rate
        self._decoder.layout = _layout(source.channels)
        if source.extradata:
            self._decoder.extradata = source.extradata
        self._resampler = self._new_resampler()
        self._encoder = av.CodecContext.create(AAC, "w")
        self._encoder.sample_rate = self.rate
        self._encoder.layout = _layout(self.channels)
        self._encoder.format = "fltp"
        self._encoder.bit_rate = BITRATE_PER_CHANNEL * self.channels
        self._encoder.time_base = self.time_base
        self._encoder.open()
        #: The stream as it is stored: AAC, same index, 1/rate time base, the encoder's AudioSpecificConfig.
        self.output = replace(source, codec=AAC, time_base=self.time_base,
                              extradata=bytes(self._encoder.extradata or b""), profile="LC",
                              sample_rate=self.rate, channels=self.channels)
        self._first: int | None = None  # clock position of the first sample (output samples)
        self._clock: int | None = None  # where the next decoded sample goes
        self._queued: list[np.ndarray] = []  # samples not yet handed to the encoder, (channels, n)
        self._queued_n = 0
        self._frame_pts = 0  # clock position of the next encoder frame
        self._next_out: int | None = None  # pts of the next AAC packet to come out
        self._finished = False
        self._drop = 0  # samples still to drop after an overlap
        self.filled = 0  # samples of silence put in for gaps
        self.dropped = 0  # samples dropped for overlaps

    @property
    def next_pts(self) -> int | None:
        """The pts (1/rate) of the next AAC packet: every packet before it has been returned.
        None before the first input."""
        return self._next_out

    def push(self, packet: MediaPacket, pts: int) -> list[MediaPacket]:
        """Decode one camera packet whose (repaired) pts is `pts` in the source time base; returns
        the AAC packets it completes (stream index kept, pts in 1/rate)."""
        if self._finished:
            return []
        raw = av.Packet(packet.data)
        raw.pts = raw.dts = pts
        raw.time_base = self.source.time_base
        try:
            frames = self._decoder.decode(raw)
        except av.error.FFmpegError as exc:  # one corrupt packet: its time becomes a gap
            log.debug("audio packet at %d does not decode: %s", pts, exc)
            return []
        if not frames:
            return []
        at = round(pts * self._in_scale)
        out: list[MediaPacket] = []
        if self._clock is not None and abs(at - self._clock) > RESYNC_S * self.rate:
            # A discontinuity: the samples the resampler still holds (its filter's delay) belong
            # before it, so they go on the clock first, and a new resampler starts after it.
            tail = self._samples(self._resampler.resample(None))
            self._resampler = self._new_resampler()
            self._queue(tail)
            out += self._frames(packet)
            out += self._resync(at - self._clock, at, packet)
        for frame in frames:
            frame.pts = None  # the clock places the samples, not the decoder
        samples = self._samples([r for frame in frames for r in self._resampler.resample(frame)])
        if self._clock is None:
            self._first = self._clock = self._frame_pts = self._next_out = at
        if self._drop and samples.shape[1]:
            cut = min(self._drop, samples.shape[1])
            samples = samples[:, cut:]
            self._drop -= cut
            self.dropped += cut
        self._queue(samples)
        return out + self._frames(packet)

    def flush(self, last: MediaPacket | None = None) -> list[MediaPacket]:
        """The rest: the queued samples and what the encoder holds back. No input is taken after."""
        if self._finished or self._clock is None:
            self._finished = True
            return []
        self._finished = True
        stamp = last if last is not None else _NO_PACKET
        tail = self._samples(self._resampler.resample(None))
        if tail.shape[1]:
            self._queue(tail)
        out: list[MediaPacket] = []
        if self._queued_n:
            out += self._encode(self._take(self._queued_n), stamp)
        out += self._drain(self._encoder.encode(None), stamp)
        return out

    # ---- the sample clock ----------------------------------------------------------------------
    def _resync(self, drift: int, at: int, packet: MediaPacket) -> list[MediaPacket]:
        """The camera's packet is `drift` samples away from the clock: fill the gap with silence, or
        drop what overlaps from the samples to come (this packet's; what is left over is under the
        threshold, or is dropped at the next packet)."""
        self._drop = 0
        if drift > MAX_FILL_S * self.rate:
            # A long silence from the camera: restart the clock there rather than encode minutes
            # of nothing. What is queued is encoded first as a whole frame (the encoder takes a
            # short frame only as its last), stamped where it belongs.
            out: list[MediaPacket] = []
            if self._queued_n:
                self._queue(np.zeros((self.channels, FRAME - self._queued_n), np.float32))
                out = self._frames(packet)
            self._clock = self._frame_pts = at
            return out
        if drift > 0:
            self._queue(np.zeros((self.channels, drift), np.float32))
            self.filled += drift
            return self._frames(packet)
        self._drop = -drift
        return []

    def _queue(self, samples: np.ndarray) -> None:
        if samples.shape[1]:
            self._queued.append(samples)
            self._queued_n += samples.shape[1]
            assert self._clock is not None
            self._clock += samples.shape[1]

    def _take(self, n: int) -> np.ndarray:
        joined = self._queued[0] if len(self._queued) == 1 else np.concatenate(self._queued, axis=1)
        head, rest = joined[:, :n], joined[:, n:]
        self._queued = [rest] if rest.shape[1] else []
        self._queued_n = rest.shape[1]
        return head

    def _frames(self, packet: MediaPacket) -> list[MediaPacket]:
        out: list[MediaPacket] = []
        while self._queued_n >= FRAME:
            out += self._encode(self._take(FRAME), packet)
        return out

    def _encode(self, samples: np.ndarray, packet: MediaPacket) -> list[MediaPacket]:
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp",
                                           layout=_layout(self.channels))
        frame.sample_rate = self.rate
        frame.pts = self._frame_pts
        frame.time_base = self.time_base
        self._frame_pts += samples.shape[1]
        return self._drain(self._encoder.encode(frame), packet)

    def _drain(self, encoded: Iterable[av.Packet], packet: MediaPacket) -> list[MediaPacket]:
        out: list[MediaPacket] = []
        assert self._first is not None
        for aac in encoded:
            pts = aac.pts
            if pts is None or pts < self._first:
                continue  # the encoder's priming frame, stamped before the first sample
            self._next_out = pts + (aac.duration or FRAME)
            out.append(MediaPacket(stream=self.source.index, data=bytes(aac), pts=pts, dts=pts, is_keyframe=True,
                                   received=packet.received, wallclock=packet.wallclock))
        return out

    def _new_resampler(self) -> av.AudioResampler:
        # Planar float, as the AAC encoder takes it; at another rate only below MIN_RATE.
        return av.AudioResampler(format="fltp", layout=_layout(self.channels), rate=self.rate)

    def _samples(self, frames: list[av.AudioFrame]) -> np.ndarray:
        if not frames:
            return np.zeros((self.channels, 0), np.float32)
        arrays = [f.to_ndarray() for f in frames]
        return arrays[0] if len(arrays) == 1 else np.concatenate(arrays, axis=1)


_NO_PACKET = MediaPacket(stream=-1, data=b"", pts=None, dts=None, is_keyframe=True, received=0.0, wallclock=0.0)
