"""Storage state shared by writers and retention, and the figures /health and /metrics show."""

from __future__ import annotations

import logging
import itertools
import shutil
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

log = logging.getLogger(__name__)

# Resume recording after a full disk only with room for a few segments, so the recorder
# does not flap between full and resumed on every freed segment.
RESUME_MIN_BYTES = 4 * 1024 * 1024
RESUME_SEGMENTS = 3


@dataclass(frozen=True, slots=True)
class StorageStatus:
    """What the gateway shows for storage in /readyz, /health and /metrics."""

    path: str
    state: str  # "ok" | "full"
    problem: str | None
    bytes_used: int  # sum of indexed segments
    bytes_free: int
    bytes_total: int
    oldest: dict[str, datetime]  # camera -> start of its oldest segment
    segments_sealed_total: int  # since start
    segments_recovered_total: int
    segments_deleted_total: int
    seal_latency_p50_s: float | None
    seal_latency_p99_s: float | None
    recording_cameras: int
    #: Every seal since start: (upper bound in seconds, how many took at most that long), cumulative,
    #: for a Prometheus histogram; and their sum.
    seal_latency_buckets: tuple[tuple[float, int], ...] = ()
    seal_latency_sum_s: float = 0.0


#: Upper bounds (seconds) of the seal-latency histogram: a seal is an fsync, a rename and a row.
SEAL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def disk_free(path: Path) -> tuple[int, int]:
    """(free, total) bytes of the filesystem holding `path`."""
    usage = shutil.disk_usage(path)
    return usage.free, usage.total


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class StorageState:
    """Counters and the full-disk alarm; touched only from the event loop."""

    root: Path
    full_problem: str | None = None
    bytes_used: int = 0
    oldest: dict[str, datetime] = field(default_factory=dict)
    sealed_total: int = 0
    recovered_total: int = 0
    deleted_total: int = 0
    largest_segment: int = 0
    recording_cameras: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=1024))
    seal_counts: list[int] = field(default_factory=lambda: [0] * len(SEAL_BUCKETS))
    seal_sum_s: float = 0.0

    @property
    def full(self) -> bool:
        return self.full_problem is not None

    def trip(self, problem: str) -> bool:
        """Raise the full-disk alarm; True if it was not raised before."""
        first = self.full_problem is None
        self.full_problem = problem
        if first:
            log.critical("RECORDING STOPPED: %s (storage %s)", problem, self.root)
        return first

    def clear(self) -> None:
        if self.full_problem is not None:
            log.warning("recording resumes: storage %s has room again", self.root)
        self.full_problem = None

    def resume_bytes(self) -> int:
        return max(RESUME_MIN_BYTES, RESUME_SEGMENTS * self.largest_segment)

    def note_sealed(self, camera: str, start: datetime, size: int, latency: float, recovered: bool) -> None:
        self.bytes_used += size
        self.largest_segment = max(self.largest_segment, size)
        if recovered:
            self.recovered_total += 1
        else:
            self.sealed_total += 1
            self.latencies.append(latency)
            self.seal_sum_s += latency
            for i, bound in enumerate(SEAL_BUCKETS):
                if latency <= bound:
                    self.seal_counts[i] += 1
                    break
        if camera not in self.oldest or start < self.oldest[camera]:
            self.oldest[camera] = start

    def note_deleted(self, size: int) -> None:
        self.bytes_used -= size
        self.deleted_total += 1

    def snapshot(self) -> StorageStatus:
        try:
            free, total = disk_free(self.root)
        except OSError:
            free, total = 0, 0
        values = list(self.latencies)
        return StorageStatus(
            path=str(self.root),
            state="full" if self.full else "ok",
            problem=self.full_problem,
            bytes_used=self.bytes_used,
            bytes_free=free,
            bytes_total=total,
            oldest=dict(self.oldest),
            segments_sealed_total=self.sealed_total,
            segments_recovered_total=self.recovered_total,
            segments_deleted_total=self.deleted_total,
            seal_latency_p50_s=_quantile(values, 0.5),
            seal_latency_p99_s=_quantile(values, 0.99),
            recording_cameras=self.recording_cameras,
            seal_latency_buckets=tuple(zip(SEAL_BUCKETS, itertools.accumulate(self.seal_counts), strict=True)),
            seal_latency_sum_s=self.seal_sum_s,
        )
