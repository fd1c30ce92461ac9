"""One connection's sound on the mux thread: audio MP4 cannot hold goes through a transcoder
(recorder/transcode.py), and every audio stream beside the video goes through the interleaver
(recorder/interleave.py), so each packet lands in the segment its middle falls in.

A connection without audio, or without video (an audio-only camera: its packets start the
segments themselves), has no AudioPath and the mux thread writes packets straight through.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import av

from recorder.interleave import AudioInterleaver, audio_length
from recorder.mp4 import recordable
from recorder.timeline import TimedPacket, seconds
from recorder.transcode import FRAME, AudioTranscoder, TranscodeError, transcodable
from streams.packet import MediaPacket, StreamInfo

log = logging.getLogger(__name__)


def has_audio_path(streams: tuple[StreamInfo, ...]) -> bool:
    """Whether a connection with these streams needs an AudioPath: video, and audio beside it."""
    video = any(s.kind == "video" and recordable(s) for s in streams)
    return video and any(s.kind == "audio" for s in streams)


def needs_transcode(info: StreamInfo) -> bool:
    """Audio MP4 cannot hold as it is, but FFmpeg can decode (and the recorder re-encode to AAC)."""
    return info.kind == "audio" and not recordable(info) and transcodable(info)


class AudioPath:
    """The transcoders and the interleaver of one connection; `run` carries out each step in order."""

    def __init__(self, camera: str, connection: int, streams: tuple[StreamInfo, ...],
                 run: Callable[[object], None]) -> None:
        self.camera = camera
        self.connection = connection
        self.transcoders: dict[int, AudioTranscoder] = {}
        #: Stream index -> the codec the camera sent, for each stream stored transcoded.
        self.sources: dict[int, str] = {}
        stored: list[StreamInfo] = []
        for info in streams:
            if needs_transcode(info):
                try:
                    transcoder = AudioTranscoder(info)
                except (TranscodeError, ValueError, OSError) as exc:
                    log.warning("camera %s: %s audio cannot be transcoded, it is not recorded: %s",
                                camera, info.codec, exc)
                    stored.append(info)
                    continue
                self.transcoders[info.index] = transcoder
                self.sources[info.index] = info.codec
                stored.append(transcoder.output)
                log.info("camera %s: %s audio is recorded as AAC-LC %d Hz", camera, info.codec, transcoder.rate)
            else:
                stored.append(info)
        #: The streams as the segments store them (transcoded ones as AAC).
        self.streams = tuple(stored)
        self._passthrough = {s.index: s for s in self.streams
                             if s.kind == "audio" and recordable(s) and s.index not in self.transcoders}
        self._time_bases = {s.index: s.time_base for s in streams}
        # Streams that need a transcoder: without one (it could not start, or failed) their packets
        # are dropped.
        self._unheard = frozenset(s.index for s in streams if needs_transcode(s))
        self._last: dict[int, tuple[float, float]] = {}  # passthrough: last packet's start, length (s)
        self.interleaver: AudioInterleaver[object] = AudioInterleaver(run)

    @property
    def audio_source(self) -> str | None:
        """The codec the camera sent for the first transcoded stream (what the index calls it)."""
        return next(iter(self.sources.values()), None)

    def packet(self, packet: MediaPacket, pts: int, dts: int) -> None:
        """One repaired packet of the connection, in arrival order."""
        transcoder = self.transcoders.get(packet.stream)
        if transcoder is not None:
            try:
                out = transcoder.push(packet, pts)
            except (av.error.FFmpegError, ValueError) as exc:
                # The sound must not cost the picture: this stream's sound stops for the connection.
                log.warning("camera %s: transcoding %s audio failed, its sound is not recorded until the camera "
                            "reconnects: %s", self.camera, transcoder.source.codec, exc)
                del self.transcoders[packet.stream]
                self.interleaver.progress(packet.stream, None)
                return
            self._encoded(transcoder, out)
            return
        if packet.stream in self._unheard:
            return
        if packet.stream in self._passthrough:
            self._passthrough_audio((packet, pts, dts))
            return
        tb = self._time_bases.get(packet.stream)
        self.interleaver.step((packet, pts, dts), seconds(pts, tb) if tb is not None else None)

    def step(self, item: object) -> None:
        """A command (open, a final seal) in order with the packets."""
        self.interleaver.step(item)

    def cut(self, item: object, at: float) -> None:
        """A seal that cuts the connection at `at` seconds (the next segment's first packet)."""
        self.interleaver.cut(item, at)

    def finish(self) -> None:
        """The connection's recording ends: what the encoders hold back, then every held step."""
        for transcoder in list(self.transcoders.values()):
            try:
                out = transcoder.flush()
            except (av.error.FFmpegError, ValueError) as exc:
                log.warning("camera %s: the end of its %s audio is lost: %s", self.camera, transcoder.source.codec,
                            exc)
                continue
            self._encoded(transcoder, out)
        self.interleaver.flush()

    def _encoded(self, transcoder: AudioTranscoder, packets: list[MediaPacket]) -> None:
        """A transcoder's output in order; each one says where the one after it will be (the next
        in the list, else where the encoder goes on)."""
        rate = transcoder.rate
        for i, out in enumerate(packets):
            assert out.pts is not None
            following = packets[i + 1].pts if i + 1 < len(packets) else transcoder.next_pts
            upcoming = None if following is None else (following + FRAME / 2) / rate
            self.interleaver.audio((out, out.pts, out.pts), out.stream, (out.pts + FRAME / 2) / rate, upcoming)
        self.interleaver.progress(transcoder.source.index, self._next_middle(transcoder))

    @staticmethod
    def _next_middle(transcoder: AudioTranscoder) -> float | None:
        upcoming = transcoder.next_pts
        return None if upcoming is None else (upcoming + FRAME / 2) / transcoder.rate

    def _passthrough_audio(self, timed: TimedPacket) -> None:
        packet, pts, _ = timed
        info = self._passthrough[packet.stream]
        start = seconds(pts, info.time_base)
        length = audio_length(info.codec, info.sample_rate, info.channels, len(packet.data))
        if length is None:
            # Not said by the codec: the step from the last packet stands for it.
            last = self._last.get(packet.stream)
            length = start - last[0] if last is not None and start > last[0] else (last[1] if last else 0.0)
            self._last[packet.stream] = (start, length)
        self.interleaver.audio(timed, packet.stream, start + length / 2, start + length * 1.5)

