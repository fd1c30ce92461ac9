"""Recordings out as one file (cf. MediaMTX internal/playback muxer_fmp4.go, muxer_mp4.go): the
reader's packets of a window, cut to it to the frame, remuxed without transcoding into MP4.

The cut differs from MediaMTX on purpose. MediaMTX starts a download at the keyframe at or
before `start`, so the file opens with up to a GOP of footage from before the window. An
export here may be the copy a court gets of exactly the authorized window, so it starts at
the first keyframe AT OR AFTER `start` (the footage before it cannot be decoded without the
keyframe before the window) and stops before the first video frame at or after `end`:
not one frame outside [start, end) is in the file. Like MediaMTX, a file covers one
continuous recording: it ends at the first gap, or where the stream parameters change.
The recorded sound goes along, in sync, unless the decision withholds it (`audio=False`, the
policy's no_audio): then the file is video only.

Pure and synchronous: `WindowCut` decides, `ContainerWriter` writes (worker thread only);
recorder/export_stream.py drives them from the reader.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import av

from recorder.interleave import audio_length
from recorder.mp4 import SEGMENT_MOVFLAGS, add_stream, recordable
from recorder.reader import GapMarker, ReadItem, SegmentOpened
from streams.bitstream import extradata_to_annexb, parameter_sets
from streams.packet import MediaPacket, StreamInfo

# Written into the file's comment tag (moov/udta) with the UTC time of the first frame, so a
# viewer can tell the wall-clock time of every frame (frame time minus the first frame's).
EXPORT_TAG = "pantau-export/1"


# The recorder's forward-only fragmented MP4, plus delay_moov: the moov then waits for the
# first fragment, so it can carry edit lists that keep each track's start offset (without
# it a track starting after the first keyframe, e.g. audio, is pulled to 0: out of sync).
FMP4_MOVFLAGS = SEGMENT_MOVFLAGS


class ExportFormat(enum.StrEnum):
    """MediaMTX's `format` values."""

    FMP4 = "fmp4"  # fragmented, written strictly forward: streams as it is muxed
    MP4 = "mp4"  # progressive with the moov first (faststart): needs the whole file first


class StopReason(enum.StrEnum):
    """Why an export ended where it did."""

    WINDOW_END = "window_end"
    GAP = "gap"
    STREAMS_CHANGED = "streams_changed"


@dataclass
class _Stream:
    info: StreamInfo
    base: int | None = None  # ticks added to this segment's timestamps
    last_dts: int | None = None


@dataclass
class WindowCut:
    """Which packets of a read go into an export of [start, end), with their file timestamps.

    File time 0 is the first keyframe at or after `start`. Timestamps stay the camera's
    within a segment; across segments they are placed by wall-clock time, so a reconnect
    that restarted the camera's clock still gives a continuous file.
    """

    start: datetime
    end: datetime
    streams: tuple[StreamInfo, ...] = ()
    stop: StopReason | None = None
    #: Wall clock (UTC seconds) of the first packet written (file time 0), and where the
    #: last video frame written ends.
    first_wall: float | None = None
    last_end_wall: float | None = None
    frames: int = 0
    packets: int = 0
    _state: dict[int, _Stream] = field(default_factory=dict)
    _last_video_wall: float | None = None
    _frame_s: float = 0.0
    #: Whether the recorded sound goes into the file (False: the decision said no_audio).
    audio: bool = True
    #: The file holds sound (an audio packet was written); the recording had sound left out.
    audio_written: bool = False
    audio_withheld: bool = False

    @property
    def started(self) -> bool:
        return self.first_wall is not None

    @property
    def video(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.kind == "video"), None)

    def feed(self, item: ReadItem) -> list[tuple[MediaPacket, int, int]]:
        """The packets of `item` that belong in the file, as (packet, pts, dts) in file time."""
        if self.stop is not None:
            return []
        if isinstance(item, GapMarker):
            if self.started:
                self.stop = StopReason.GAP
            return []
        if isinstance(item, SegmentOpened):
            streams = tuple(s for s in item.streams if recordable(s))
            if not self.audio and any(s.kind == "audio" for s in streams):
                streams = tuple(s for s in streams if s.kind != "audio")
                self.audio_withheld = True
            if self.started and not _compatible(self.streams, streams):
                self.stop = StopReason.STREAMS_CHANGED
                return []
            self.streams = streams
            self._state = {s.index: _Stream(s, last_dts=old.last_dts if (old := self._state.get(s.index)) else None)
                           for s in streams}
            return []
        return self._packet(item)

    def finish(self) -> None:
        """The reader has nothing more. It reads up to the window's end and marks a recording
        that stops earlier with a trailing gap, so running out means the window is done."""
        if self.stop is None:
            self.stop = StopReason.WINDOW_END

    def _packet(self, p: MediaPacket) -> list[tuple[MediaPacket, int, int]]:
        state = self._state.get(p.stream)
        if state is None:
            return []
        info = state.info
        video = self.video
        t_start, t_end = self.start.timestamp(), self.end.timestamp()
        if self.first_wall is None:
            # The file opens on a video keyframe in the window (on any packet when audio-only).
            opens = p.is_keyframe and info.index == video.index if video is not None else True
            if not opens or p.wallclock < t_start or p.wallclock >= t_end:
                return []
            self.first_wall = p.wallclock
        if p.wallclock >= t_end:
            if info.kind == "video":
                # Stop at the first video frame (in decode order) at or after the end: a later
                # frame that references it could not be decoded.
                self.stop = StopReason.WINDOW_END
            return []
        if p.wallclock < self.first_wall:
            return []  # e.g. audio just before the first keyframe
        pts = p.pts if p.pts is not None else p.dts
        dts = p.dts if p.dts is not None else pts
        if pts is None or dts is None:
            return []
        if state.base is None:
            state.base = round((p.wallclock - self.first_wall) / info.time_base) - pts
        pts, dts = pts + state.base, dts + state.base
        if state.last_dts is not None and dts <= state.last_dts:
            dts = state.last_dts + 1
        pts = max(pts, dts)
        if info.kind == "video":
            if self._last_video_wall is not None and p.wallclock > self._last_video_wall:
                self._frame_s = p.wallclock - self._last_video_wall
            self._last_video_wall = p.wallclock
            self.last_end_wall = min(t_end, p.wallclock + self._frame_s)
            self.frames += 1
        else:
            self.audio_written = True
            if video is None:
                self.last_end_wall = p.wallclock
        state.last_dts = dts
        self.packets += 1
        return [(p, pts, dts)]

    def written_range(self) -> tuple[datetime, datetime] | None:
        """[first frame, end of the last frame) in UTC: what the file holds."""
        if self.first_wall is None:
            return None
        end = self.last_end_wall if self.last_end_wall is not None else self.first_wall
        return _utc(self.first_wall), _utc(max(end, self.first_wall))


def _compatible(a: tuple[StreamInfo, ...], b: tuple[StreamInfo, ...]) -> bool:
    """Whether packets of streams `b` can continue a file opened for streams `a`."""
    key = [(s.index, s.kind, s.codec, s.width, s.height, s.sample_rate, s.channels) for s in a]
    return key == [(s.index, s.kind, s.codec, s.width, s.height, s.sample_rate, s.channels) for s in b]


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def annexb_extradata(info: StreamInfo, first: MediaPacket | None) -> bytes | None:
    """Codec parameters as Annex B, which the MP4 muxer turns into avcC/hvcC while it turns the
    Annex B packets into length-prefixed samples. (Extradata read back from MP4 is already
    avcC; handed to the muxer with Annex B packets it would write them unconverted.)"""
    if first is not None and first.stream == info.index:
        in_band = parameter_sets(info.codec, first.data)
        if in_band:
            return in_band
    return extradata_to_annexb(info.codec, info.extradata)


class ChunkSink:
    """A write-only, never-seeking file object: the fMP4 muxer writes strictly forward into it,
    and the bytes are taken out in order as they come."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self.pending = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._chunks.append(bytes(data))
        self.pending += len(data)
        return len(data)

    def take(self) -> bytes:
        """Everything written since the last take."""
        out = b"".join(self._chunks)
        self._chunks.clear()
        self.pending = 0
        return out


class ContainerWriter:
    """One export file being muxed with PyAV; every call from one worker thread at a time."""

    def __init__(
        self,
        fmt: ExportFormat,
        streams: tuple[StreamInfo, ...],
        first: MediaPacket,
        first_wall: float,
        camera: str,
        target: ChunkSink | Path,
    ) -> None:
        self.fmt = fmt
        options = {"movflags": FMP4_MOVFLAGS if fmt is ExportFormat.FMP4 else "+faststart"}
        self.container = av.open(target if isinstance(target, ChunkSink) else str(target), "w", format="mp4",
                                 options=options)
        self._streams: dict[int, tuple[av.stream.Stream, Fraction]] = {}
        # Audio packets' lengths, where the codec says (AAC: 1024 samples): without one, the
        # muxer gives the file's last audio frame no length and the sound ends a frame early.
        self._lengths: dict[int, int] = {}
        try:
            for info in streams:
                extradata = annexb_extradata(info, first) if info.kind == "video" else info.extradata
                stream = add_stream(self.container, info, extradata)
                if stream is not None:
                    self._streams[info.index] = (stream, info.time_base)
                    length = audio_length(info.codec, info.sample_rate, info.channels, 0)
                    if info.kind == "audio" and length:
                        self._lengths[info.index] = round(length / info.time_base)
            self.container.metadata["comment"] = json.dumps(
                {"tag": EXPORT_TAG, "camera": camera, "start": _utc(first_wall).isoformat().replace("+00:00", "Z")},
                separators=(",", ":"),
            )
        except BaseException:
            self.abandon()
            raise

    def write(self, batch: list[tuple[MediaPacket, int, int]]) -> None:
        """Mux packets already cut and timed by WindowCut."""
        for packet, pts, dts in batch:
            entry = self._streams.get(packet.stream)
            if entry is None:
                continue
            stream, time_base = entry
            out = av.Packet(packet.data)
            out.pts, out.dts = pts, dts
            length = self._lengths.get(packet.stream)
            if length:
                out.duration = length
            out.is_keyframe = packet.is_keyframe
            out.time_base = time_base
            out.stream = stream
            self.container.mux(out)

    def close(self) -> None:
        """Write the trailer (for mp4: the moov, moved to the front)."""
        self.container.close()

    def abandon(self) -> None:
        """Stop after an error or an aborted download; the output is not used."""
        try:
            self.container.close()
        except (av.error.FFmpegError, OSError, ValueError):
            pass

