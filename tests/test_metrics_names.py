"""Every problem a camera can have is a value of pantau_camera_problem's `problem` label (the set is
fixed so label values stay bounded: a new problem name must be added there)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import prometheus_client.parser
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest

from camera_events.service import HEALTH_ALARMS
from gateway.http.metrics import PROBLEMS, _storage_metrics
from onvif_adapters.source import CLOCK_DRIFT
from recorder.status import StorageState
from streams.camera import SUBSTREAM_DOWN
from streams.health import UNDECODABLE
from streams.imagecheck import PROBLEMS as PROBLEM_NAMES


def test_every_problem_name_is_a_label_value() -> None:
    names = {*PROBLEM_NAMES, UNDECODABLE, *(kind.value for kind in HEALTH_ALARMS), CLOCK_DRIFT, SUBSTREAM_DOWN}
    assert names == set(PROBLEMS), names ^ set(PROBLEMS)


class _Storage:
    def __init__(self, state: StorageState) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        return _storage_metrics(self._state.snapshot())


def test_seal_latency_is_a_histogram(tmp_path: Path) -> None:
    state = StorageState(tmp_path)
    for latency in (0.003, 0.02, 0.02, 0.7, 30.0):
        state.note_sealed("cam", datetime.now(UTC), 1000, latency, recovered=False)
    registry = CollectorRegistry()
    registry.register(_Storage(state))
    text = generate_latest(registry).decode()
    family = next(f for f in prometheus_client.parser.text_string_to_metric_families(text)
                  if f.name == "pantau_seal_latency_seconds")
    assert family.type == "histogram"
    samples = {(s.name, s.labels.get("le")): s.value for s in family.samples}
    assert samples[("pantau_seal_latency_seconds_bucket", "0.005")] == 1
    assert samples[("pantau_seal_latency_seconds_bucket", "0.025")] == 3
    assert samples[("pantau_seal_latency_seconds_bucket", "1")] == 4
    assert samples[("pantau_seal_latency_seconds_bucket", "10")] == 4
    assert samples[("pantau_seal_latency_seconds_bucket", "+Inf")] == 5
    assert samples[("pantau_seal_latency_seconds_count", None)] == 5
    assert abs(samples[("pantau_seal_latency_seconds_sum", None)] - 30.743) < 1e-9
