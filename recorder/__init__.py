"""Recording: sealed segments (with the camera's sound; G.711 transcoded to AAC), index, gaps,
retention, the playback reader, export bundles, MP4 evidence copies with a UTC time-code track
(mp4export.export_mp4)."""

from recorder.service import Recorder
from recorder.reader import SegmentReader
from recorder.reports import RecordingEvent, RecordingEventKind, RecordingEventSink
from recorder.verify import reindex_recordings, verify_recordings

__all__ = [
    "Recorder",
    "RecordingEvent",
    "RecordingEventKind",
    "RecordingEventSink",
    "SegmentReader",
    "reindex_recordings",
    "verify_recordings",
]
