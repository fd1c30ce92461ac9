"""Remuxing hub packets into one fragmented MP4 segment with PyAV (worker thread only)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import av

from recorder.mp4 import SEGMENT_OPTIONS, add_stream, recordable
from recorder.segment import META_KEY, SealedSegment, SegmentMeta
from recorder.segmentfile import HashingFile, seal_file
from recorder.store import SegmentStore
from streams.bitstream import parameter_sets
from streams.packet import MediaPacket, StreamInfo

log = logging.getLogger(__name__)

@dataclass
class _Track:
    info: StreamInfo
    stream: av.stream.Stream


class SegmentMuxer:
    """One segment being written: opened at a keyframe, fed packets, then sealed or abandoned."""

    def __init__(
        self,
        store: SegmentStore,
        camera: str,
        streams: tuple[StreamInfo, ...],
        start: datetime,
        prev_sha256: str | None,
        first: MediaPacket,
        first_dts: int,
        camera_stream: str = "main",
        sources: dict[int, str] | None = None,
    ) -> None:
        """`streams` as they are stored (a transcoded stream as its AAC); `sources`: stream index ->
        the codec the camera sent, for each stream the recorder transcoded."""
        self.store = store
        self.camera = camera
        #: Which of the camera's streams ("main" or "sub"): in the file's name, header and index row.
        self.camera_stream = camera_stream
        self.start = start
        self.prev_sha256 = prev_sha256
        self.partial = store.partial_path(camera, start, camera_stream)
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        self.file = HashingFile(self.partial)
        self.packets = 0
        self.tracks: dict[int, _Track] = {}
        try:
            self.container = av.open(self.file, "w", format="mp4", options=SEGMENT_OPTIONS)
            order: list[tuple[int, str, str, Fraction]] = []
            for info in streams:
                if not recordable(info):
                    continue
                extradata = info.extradata
                if info.kind == "video" and not extradata and first.stream == info.index:
                    # A camera that sends its parameter sets only in band: take them from the keyframe.
                    extradata = parameter_sets(info.codec, first.data)
                stream = add_stream(self.container, info, extradata)
                assert stream is not None  # recordable() found the codec's template
                self.tracks[info.index] = _Track(info, stream)
                order.append((info.index, info.kind, info.codec, info.time_base))
            origin = next(s for s in streams if s.index == first.stream)
            transcoded = tuple((i, c) for i, c in (sources or {}).items() if i in self.tracks)
            self.meta = SegmentMeta(
                camera, start, prev_sha256, first.stream, origin.time_base, first_dts, tuple(order), camera_stream,
                transcoded,
            )
            self.container.metadata[META_KEY] = self.meta.to_json()
        except BaseException:
            self.abandon()
            raise
        video = next((t.info for t in self.tracks.values() if t.info.kind == "video"), None)
        audio = next((t.info for t in self.tracks.values() if t.info.kind == "audio"), None)
        self.codec = video.codec if video else (audio.codec if audio else "")
        self.width = video.width if video else 0
        self.height = video.height if video else 0
        self.audio_codec = audio.codec if audio else None
        self.audio_source_codec = self.meta.audio_source if audio else None

    def write(self, packet: MediaPacket, pts: int, dts: int) -> None:
        """Mux one packet (timestamps already made monotonic by the writer)."""
        track = self.tracks.get(packet.stream)
        if track is None:
            return
        out = av.Packet(packet.data)
        out.pts = pts
        out.dts = dts
        out.is_keyframe = packet.is_keyframe
        out.time_base = track.info.time_base
        out.stream = track.stream
        self.container.mux(out)
        self.packets += 1

    def seal(self, end: datetime, drift_ms: float, cut_at: float) -> SealedSegment:
        """Finish the file, fsync, hash, rename to the final name, make it read-only."""
        self.container.close()
        sha = self.file.finish()
        final = self.store.final_path(self.camera, self.start, self.camera_stream)
        seal_file(self.partial, final)
        return SealedSegment(
            camera_id=self.camera,
            path=self.store.relative(final),
            start=self.start,
            end=max(end, self.start),
            bytes=self.file.bytes,
            sha256=sha,
            prev_sha256=self.prev_sha256,
            status="sealed",
            codec=self.codec,
            width=self.width,
            height=self.height,
            audio_codec=self.audio_codec,
            audio_source_codec=self.audio_source_codec,
            drift_ms=drift_ms,
            timestamps=self.meta.to_json(),
            seal_latency_s=time.monotonic() - cut_at,
            stream=self.camera_stream,
        )

    def abandon(self) -> Path:
        """Stop writing after an error; the partial file stays for salvage or recovery."""
        container = getattr(self, "container", None)
        if container is not None:
            try:
                container.close()
            except Exception as exc:  # closing flushes; on a full disk that fails too
                log.debug("camera %s: closing an abandoned segment: %s", self.camera, exc)
        self.file.abandon()
        return self.partial
