"""Recording: sealed segments, index, gaps, retention, the playback reader, export bundles."""

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
