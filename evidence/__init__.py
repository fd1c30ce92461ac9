"""Evidence out of Pantau: bundles an outside party verifies offline, export jobs (bound to the
signed-in user or to a disposition that allows copies, with progress), and the recorder's custody
entries in the access log.

Offers `export_cli`/`verify_bundle` (the CLI), `BundleWriter` (one zip: segments and/or MP4s,
manifest with its binding, log proof), `ExportJobs`/`export_jobs` (rows, hub, runner, keeper for
the gateway), `RecordingLog`."""

from evidence.bundles import ExportRequest, export_cli, verify_bundle
from evidence.exportjobs import ExportJobs, export_jobs
from evidence.jobwriter import BundleWriter
from evidence.recordinglog import RecordingLog

__all__ = [
    "BundleWriter",
    "ExportJobs",
    "ExportRequest",
    "RecordingLog",
    "export_cli",
    "export_jobs",
    "verify_bundle",
]
