"""What a segment is: the metadata written into each file and the record of a sealed one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

META_KEY = "comment"
META_TAG = "pantau-segment/1"


@dataclass(frozen=True, slots=True)
class SegmentMeta:
    """Written into the MP4 (moov/udta) when the segment opens; lets reindex work from disk.

    `origin_dts` is the original (camera) dts of the first packet of stream `origin_stream`
    in time base `origin_tb`: the muxer rebases timestamps to start at 0, and this is how
    the reader gives packets back their original timestamps.
    """

    camera: str
    start: datetime
    prev_sha256: str | None
    origin_stream: int
    origin_tb: Fraction
    origin_dts: int
    #: (original index, kind, codec, original time base) per stream in file order, as stored
    #: (a transcoded stream: its stored codec and time base).
    streams: tuple[tuple[int, str, str, Fraction], ...]
    #: Which of the camera's streams: "main" or "sub" (its own chain); written only for "sub", so
    #: main-stream headers are what they were before sub-streams existed.
    stream: str = "main"
    #: (original index, the codec the camera sent) per stream the recorder transcoded; absent
    #: from the JSON (and from segments written before transcoding existed) when there is none.
    transcoded: tuple[tuple[int, str], ...] = ()

    @property
    def audio_source(self) -> str | None:
        """The codec the camera sent for the first transcoded audio stream, if any."""
        audio = {i for i, k, _, _ in self.streams if k == "audio"}
        return next((codec for i, codec in self.transcoded if i in audio), None)

    def to_json(self) -> str:
        doc: dict[str, Any] = {
            "tag": META_TAG,
            "camera": self.camera,
            "start": self.start.astimezone(UTC).isoformat(),
            "prev_sha256": self.prev_sha256,
            "origin": [self.origin_stream, str(self.origin_tb), self.origin_dts],
            "streams": [[i, k, c, str(tb)] for i, k, c, tb in self.streams],
        }
        if self.stream != "main":
            doc["stream"] = self.stream
        if self.transcoded:
            doc["transcoded"] = [[i, c] for i, c in self.transcoded]
        return json.dumps(doc, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> SegmentMeta | None:
        """Parse; None when the text is not a Pantau segment header."""
        if not text:
            return None
        try:
            raw: dict[str, Any] = json.loads(text)
            if raw.get("tag") != META_TAG:
                return None
            origin = raw["origin"]
            return cls(
                camera=str(raw["camera"]),
                start=datetime.fromisoformat(raw["start"]).astimezone(UTC),
                prev_sha256=raw.get("prev_sha256"),
                origin_stream=int(origin[0]),
                origin_tb=Fraction(origin[1]),
                origin_dts=int(origin[2]),
                streams=tuple((int(i), str(k), str(c), Fraction(tb)) for i, k, c, tb in raw["streams"]),
                stream=str(raw.get("stream", "main")),
                transcoded=tuple((int(i), str(c)) for i, c in raw.get("transcoded", ())),
            )
        except (ValueError, KeyError, TypeError, IndexError):
            return None


@dataclass(frozen=True, slots=True)
class SealedSegment:
    """A segment that is fsynced, renamed and read-only: what the index gets."""

    camera_id: str
    path: str  # relative to storage.path
    start: datetime
    end: datetime
    bytes: int
    sha256: str
    prev_sha256: str | None
    status: str  # "sealed" | "recovered"
    codec: str
    width: int
    height: int
    audio_codec: str | None
    drift_ms: float
    timestamps: str  # SegmentMeta JSON
    seal_latency_s: float = 0.0
    stream: str = "main"  # "main" or "sub": which of the camera's streams (each has its own chain)
    #: The codec the camera sent when the recorder transcoded the sound ("pcm_alaw"); None: the
    #: sound (if any) is stored as sent.
    audio_source_codec: str | None = None
    #: The camera lease epoch it was written under (several nodes on PostgreSQL); None: no lease
    #: (one node, or a segment recovery found on disk).
    lease_epoch: int | None = None
