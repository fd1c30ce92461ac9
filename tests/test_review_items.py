"""The replay desk's items without a gateway: ONVIF events paired into spans, kind prefixes and text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from camera_events.review import event_spans
from core.reviewing import ReviewItem, ReviewWindow
from onvif_adapters.subscription import CameraEvent
from onvif_adapters.topics import EventKind

T0 = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
MOTION = "tns1:RuleEngine/CellMotionDetector/Motion"


def ev(seconds: float, kind: EventKind, active: bool, camera: str = "gate", source: str = "vsc1") -> CameraEvent:
    return CameraEvent(camera, kind, active, T0 + timedelta(seconds=seconds), MOTION if kind is EventKind.MOTION
                       else "tns1:RuleEngine/TamperDetector/Tamper", {"VideoSourceConfigurationToken": source})


def test_an_alarm_is_one_item_from_on_to_off_per_camera_kind_and_source() -> None:
    items = event_spans([
        ev(0, EventKind.MOTION, False),  # the state at subscription: nothing to show
        ev(1, EventKind.MOTION, True), ev(2, EventKind.MOTION, True, source="vsc2"),
        ev(3, EventKind.MOTION, True),  # repeated "on": the same alarm
        ev(4, EventKind.TAMPER, True, camera="lobby"),
        ev(5, EventKind.MOTION, False), ev(9, EventKind.MOTION, False, source="vsc2"),
        ev(10, EventKind.MOTION, True),
    ])
    got = [(i.kind, i.camera, (i.start - T0).seconds, None if i.end is None else (i.end - T0).seconds) for i in items]
    assert got == [("onvif.motion", "gate", 1, 5), ("onvif.motion", "gate", 2, 9), ("onvif.tamper", "lobby", 4, None),
                   ("onvif.motion", "gate", 10, None)]
    assert items[0].title == "Motion" and MOTION in items[0].detail and "vsc1" in items[0].detail


ITEM = ReviewItem("x", "alert.camera.alarm", "gate", T0, None, "Camera gate alarm: motion", "warning · Alarm kamera")


@pytest.mark.parametrize(("kinds", "text", "expected"), [
    ([], "", True), (["alert"], "", True), (["alert.camera"], "", True), (["alert.camera.alarm"], "", True),
    (["alert.cam"], "", False), (["al"], "", False), (["onvif", "case"], "", False), (["case", "alert"], "", True),
    ([], "MOTION", True), ([], "kamera", True), ([], "tamper", False), (["onvif"], "motion", False),
])
def test_kind_prefixes_match_at_a_dot_and_text_anywhere(kinds: list[str], text: str, expected: bool) -> None:
    assert ITEM.matches(kinds, text) is expected


def test_a_window_takes_spans_that_touch_it_and_moments_inside() -> None:
    w = ReviewWindow({"gate"}, T0, T0 + timedelta(hours=1))
    assert w.overlaps(T0 - timedelta(minutes=5), T0 + timedelta(seconds=1))
    assert not w.overlaps(T0 - timedelta(minutes=5), T0)
    assert w.overlaps(T0, None) and not w.overlaps(T0 + timedelta(hours=1), None)
    assert not w.overlaps(T0 - timedelta(seconds=1), None)
