"""Evidence out of Pantau: bundles an outside party verifies offline, and the recorder's custody entries in the access log."""

from evidence.bundles import ExportRequest, export_cli, verify_bundle
from evidence.recordinglog import RecordingLog

__all__ = [
    "ExportRequest",
    "RecordingLog",
    "export_cli",
    "verify_bundle",
]
