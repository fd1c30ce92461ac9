"""The recordings' config: the hub's buffers, continuous recording and retention with its floor, and
the replay desk (sections `hub`, `recording` and `review`)."""

from __future__ import annotations

from pydantic import Field

from core.configbase import Strict


class HubConfig(Strict):
    subscriber_queue: int = Field(
        512, ge=8, le=100_000, description="Packets buffered per subscriber before drop-oldest."
    )
    opens_per_s: float = Field(
        20.0, gt=0, le=1000,
        description="Camera connections started per second at most, spread evenly: a start (or the "
        "network coming back) does not open every camera in the same instant.",
    )


class RecordingConfig(Strict):
    """Continuous recording to sealed segments (owned by recorder/)."""

    segment_s: float = Field(60.0, ge=2, le=3600, description="Target segment length; cut on a keyframe.")
    retention_days: float = Field(30.0, gt=0, le=3650, description="Default age after which segments may be deleted.")
    min_retention_days: float = Field(
        30.0, ge=0, le=3650,
        description="The floor: no retention (this section's, a camera's) may be shorter, and the storage budget "
                    "(max_bytes) deletes nothing younger. Only the free-space floor may, as the disk would fill.",
    )
    max_bytes: int | None = Field(None, gt=0, description="Storage budget for all recordings; oldest unheld go first.")
    min_free_bytes: int = Field(
        1024**3, ge=0, description="Free-space floor on the storage filesystem; retention keeps it free."
    )
    retention_interval_s: float = Field(60.0, ge=1, le=86400, description="How often retention runs.")
    max_downloads: int = Field(
        4, ge=1, le=256, description="Simultaneous GET /get downloads; one more is answered 503 with Retry-After."
    )
    max_exports: int = Field(
        2, ge=1, le=64, description="Export jobs running at once; more wait in the queue, in order."
    )
    export_keep_h: float = Field(
        72.0, gt=0, le=24 * 366, description="Hours a finished export's file is kept for download, then deleted (logged)."
    )


class ReviewConfig(Strict):
    """The replay desk (recordings page): events on the timeline and the event list, and the thumbnail
    strip along the timeline."""

    preroll_s: float = Field(
        5.0, ge=0, le=300,
        description="Replay starts this many seconds before a clicked event (seconds, 0 to 300).",
    )
    thumbnail_cache_mb: int = Field(
        256, ge=1, le=1_048_576,
        description="Disk budget in MiB for keyframe thumbnails under data_dir/thumbnails; the least recently "
        "used are removed first (they are made again from the recordings when asked for).",
    )


def below_floor(days: float, floor: float) -> str:
    """Why a retention of `days` is refused under a floor of `floor` days."""
    return (f"{days:g} days is under recording.min_retention_days ({floor:g}): recordings may not be kept "
            "shorter than the floor")
