"""What each part publishes: camera states, sign-in bursts, the recorder's stalls and storage."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from core.alerting import AlertKind, Notice
from core.alertsconfig import AlertsConfig
from core.clock import ManualClock
from fleet.statealerts import StateAlerts
from policy.identity.throttle import LoginThrottle
from recorder.alerting import RecordingAlerts
from recorder.reports import LogOnlySink, RecordingEvent, RecordingEventKind
from streams.state import CameraState, CameraStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
S = CameraState


class Collect:
    """A publisher that keeps what it is given."""

    def __init__(self) -> None:
        self.notices: list[Notice] = []

    def publish(self, notice: Notice) -> None:
        self.notices.append(notice)

    @property
    def kinds(self) -> list[str]:
        return [n.kind.value for n in self.notices]


def status(state: CameraState, reason: str = "", problems: tuple[str, ...] = ()) -> CameraStatus:
    return CameraStatus(state, T0, reason, 0, None, problems)


@pytest.mark.parametrize(
    ("states", "kinds"),
    [
        # connecting, then online: announced once
        ([status(S.CONNECTING), status(S.ONLINE)], ["camera.online"]),
        # reconnect attempts pass through connecting/offline: one offline, one online
        ([status(S.ONLINE), status(S.OFFLINE, "stalled"), status(S.CONNECTING), status(S.OFFLINE, "refused"),
          status(S.CONNECTING), status(S.ONLINE)], ["camera.online", "camera.offline", "camera.online"]),
        # a camera that never came up is announced offline once
        ([status(S.CONNECTING), status(S.OFFLINE, "refused"), status(S.CONNECTING), status(S.OFFLINE, "refused")],
         ["camera.offline"]),
        # picture problems: degraded naming the new ones, then recovered
        ([status(S.ONLINE), status(S.DEGRADED, "frozen", ("frozen",)), status(S.DEGRADED, "f+b", ("black", "frozen")),
          status(S.ONLINE)], ["camera.online", "camera.degraded", "camera.degraded", "camera.recovered"]),
        # taken out of service: no alert
        ([status(S.ONLINE), status(S.DISABLED)], ["camera.online"]),
    ],
)
def test_camera_state_alerts(states: list[CameraStatus], kinds: list[str]) -> None:
    out = Collect()
    alerts = StateAlerts(out)
    old: CameraStatus | None = None
    for new in states:
        alerts("gate", old, new)
        old = new
    assert out.kinds == kinds
    offline = [n for n in out.notices if n.kind is AlertKind.CAMERA_OFFLINE]
    assert all(n.details["reason"] for n in offline)


def test_degraded_names_only_the_new_problems() -> None:
    out = Collect()
    alerts = StateAlerts(out)
    alerts("gate", None, status(S.ONLINE))
    alerts("gate", status(S.ONLINE), status(S.DEGRADED, "frozen", ("frozen",)))
    alerts("gate", status(S.DEGRADED, "frozen", ("frozen",)), status(S.DEGRADED, "x", ("black", "frozen")))
    assert [n.details.get("new") for n in out.notices[1:]] == ["frozen", "black"]


def test_many_failed_sign_ins_from_anyone_raise_one_burst_per_window() -> None:
    clock, out = ManualClock(), Collect()
    throttle = LoginThrottle(clock, 5, 60, 300, burst=10, burst_window_s=60, alerts=out)
    for i in range(9):
        throttle.failed(f"user{i}", f"10.0.0.{i}")
    assert out.notices == []
    throttle.failed("admin", "10.0.0.99")
    assert out.kinds == ["security.signin_burst"]
    assert out.notices[0].details == {"failures": 10, "window_s": 60, "username": "admin", "client": "10.0.0.99"}
    for _ in range(20):
        throttle.failed("admin", "10.0.0.99")
    assert len(out.notices) == 1  # one per window
    clock.advance(61)
    for _ in range(10):
        throttle.failed("x", "10.0.0.1")
    assert len(out.notices) == 2


def _camera(state: CameraState, record: bool = True) -> Any:
    return SimpleNamespace(config=SimpleNamespace(record=record, enabled=True), status=status(state))


async def test_recording_stalled_then_resumed_and_storage_reports(tmp_path: Path) -> None:
    clock, out, sink = ManualClock(), Collect(), LogOnlySink()
    cameras = {"gate": _camera(S.ONLINE), "lobby": _camera(S.OFFLINE), "yard": _camera(S.ONLINE, record=False)}
    watch = RecordingAlerts(sink, out, cast(Any, cameras), clock, 2.0, AlertsConfig(stall_factor=2.0), tmp_path)
    watch._check_stalls(clock.monotonic())  # gate came up now: it has 4 s
    clock.advance(3.9)
    watch._check_stalls(clock.monotonic())
    assert out.notices == []
    clock.advance(0.2)
    watch._check_stalls(clock.monotonic())
    assert out.kinds == ["recording.stalled"] and out.notices[0].camera == "gate"
    watch._check_stalls(clock.monotonic() + 10)
    assert len(out.notices) == 1  # once per stall
    sealed = RecordingEvent(RecordingEventKind.SEGMENT_SEALED, "gate")
    await watch.record(sealed)
    assert out.kinds == ["recording.stalled", "recording.resumed"]
    assert sink.events == [sealed]  # every report still reaches the access log
    await watch.record(RecordingEvent(RecordingEventKind.STORAGE_FULL, "gate", reason="No space left on device"))
    await watch.record(RecordingEvent(RecordingEventKind.STORAGE_RESUMED, None, reason="1 GB free"))
    assert out.kinds[2:] == ["storage.full", "storage.ok"]
    assert out.notices[2].camera is None and out.notices[2].details["problem"] == "No space left on device"


async def test_storage_low_and_back(tmp_path: Path) -> None:
    out = Collect()
    free = 100 * 1024**5  # more than any disk: low at once
    watch = RecordingAlerts(LogOnlySink(), out, {}, ManualClock(), 60, AlertsConfig(storage_low_free_bytes=free), tmp_path)
    await watch._check_free_space()
    await watch._check_free_space()
    assert out.kinds == ["storage.low"]
    assert 0 < cast(int, out.notices[0].details["free_bytes"]) < free
    watch._low_floor = 1  # the disk has room again
    await watch._check_free_space()
    assert out.kinds == ["storage.low", "storage.ok"]
