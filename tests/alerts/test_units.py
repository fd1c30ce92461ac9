"""Pure parts of alerts: flapping, the catalogue's summaries, ids, config validation."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest
from pydantic import ValidationError

from alerts.catalogue import CATALOGUE, summarize
from alerts.debounce import FlapFilter
from alerts.model import uuid7
from core.alerting import AlertKind
from core.config import Settings

ON, OFF = AlertKind.CAMERA_ONLINE, AlertKind.CAMERA_OFFLINE
ROOT = Path(__file__).resolve().parents[2]


def test_every_kind_has_a_severity_and_both_summaries() -> None:
    assert set(CATALOGUE) == set(AlertKind)
    for kind in AlertKind:
        text = summarize(kind, "gate", {})
        assert set(text) == {"en", "id"} and all(text.values()), kind
        assert text["en"] != text["id"], kind


def test_a_missing_detail_shows_as_a_question_mark_and_never_fails() -> None:
    assert summarize(OFF, "gate", {})["en"] == "Camera gate is offline: ?"
    assert summarize(OFF, "gate", {"reason": "no packets for 5 s"})["id"] == "Kamera gate terputus: no packets for 5 s"


def test_uuid7_is_version_7_and_sorts_by_time() -> None:
    a, b = uuid7(datetime(2026, 1, 1, tzinfo=UTC)), uuid7(datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC))
    assert UUID(a).version == 7 and UUID(b).version == 7
    assert a < b
    assert len({uuid7(datetime(2026, 1, 1, tzinfo=UTC)) for _ in range(1000)}) == 1000


@pytest.mark.parametrize(
    ("changes", "sent", "flapping"),
    [
        # (time, kind) -> which changes are announced, and when camera.flapping is raised
        ([(0, OFF), (10, ON)], [OFF, ON], 0),
        ([(0, OFF), (1, ON), (2, OFF)], [OFF, ON], 1),
        ([(0, OFF), (1, ON), (2, OFF), (3, ON), (4, OFF), (5, ON), (6, OFF), (7, ON), (8, OFF), (9, ON)], [OFF, ON], 1),
        # spread out beyond the window: never flapping
        ([(0, OFF), (61, ON), (122, OFF), (183, ON)], [OFF, ON, OFF, ON], 0),
    ],
)
def test_flapping_table(changes: list[tuple[float, AlertKind]], sent: list[AlertKind], flapping: int) -> None:
    f = FlapFilter(window_s=60, threshold=3, hold_down_s=120)
    assert f.change("gate", ON, {}, -1).send  # the first known state: announced, not a change
    out, flaps = [], 0
    for at, kind in changes:
        verdict = f.change("gate", kind, {}, at)
        flaps += verdict.flapping
        if verdict.send:
            out.append(kind)
    assert out == sent
    assert flaps == flapping


def test_a_flapping_camera_announces_where_it_settled_after_the_hold_down() -> None:
    f = FlapFilter(window_s=60, threshold=3, hold_down_s=120)
    f.change("gate", ON, {}, -1)
    for at, kind in [(0, OFF), (1, ON), (2, OFF), (3, ON), (4, OFF)]:
        f.change("gate", kind, {"reason": f"t{at}"}, at)
    assert f.settled(100) == []  # not quiet long enough
    assert f.settled(125) == [("gate", OFF, {"reason": "t4"})]  # last announced was ON
    assert f.settled(300) == []
    # quiet again: the next change goes out as usual
    assert f.change("gate", ON, {}, 400).send


def test_settling_in_the_state_last_announced_says_nothing() -> None:
    f = FlapFilter(window_s=60, threshold=3, hold_down_s=120)
    f.change("gate", ON, {}, -1)
    for at, kind in [(0, OFF), (1, ON), (2, OFF), (3, ON)]:
        f.change("gate", kind, {}, at)
    assert f.settled(200) == []


def test_flapping_is_per_camera() -> None:
    f = FlapFilter(window_s=60, threshold=3, hold_down_s=120)
    for at in range(4):
        f.change("a", ON if at % 2 == 0 else OFF, {}, at)
    f.change("b", ON, {}, 3)
    assert f.change("b", OFF, {}, 4).send


@pytest.mark.parametrize(
    ("alerts", "error"),
    [
        ({"webhooks": [{"name": "x", "url": "ftp://h/"}]}, "http:// or https://"),
        ({"webhooks": [{"name": "x", "url": "http://u:p@h/"}]}, "no credentials"),
        ({"webhooks": [{"name": "x", "url": "http://h/", "kinds": ["camera.bogus"]}]}, "camera.offline"),
        ({"webhooks": [{"name": "x", "url": "http://h/"}, {"name": "x", "url": "http://g/"}]}, "used twice"),
        ({"allowed_hosts": ["ok.example"], "webhooks": [{"name": "x", "url": "http://evil.example/"}]},
         "not in alerts.allowed_hosts"),
        ({"allowed_hosts": ["ok.example"], "mqtt": {"url": "mqtt://evil.example"}}, "not in alerts.allowed_hosts"),
        ({"mqtt": {"url": "http://h"}}, "mqtt:// or mqtts://"),
        ({"mqtt": {"url": "mqtt://h", "topic_prefix": "a/#"}}, "topic_prefix"),
        ({"webhooks": [{"name": "x", "url": "http://h/", "secret": "short"}]}, "at least 16"),
    ],
)
def test_bad_alert_config_is_refused(alerts: dict[str, object], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        Settings(alerts=alerts)  # type: ignore[arg-type]


def test_good_alert_config() -> None:
    s = Settings(alerts={"allowed_hosts": ["Hooks.Example"], "webhooks": [  # type: ignore[arg-type]
        {"name": "ops", "url": "https://hooks.example/in", "kinds": ["camera.offline"], "secret": "whsec_" + "A" * 32}],
        "mqtt": {"url": "mqtts://hooks.example"}})
    assert s.alerts.webhooks[0].kinds == [AlertKind.CAMERA_OFFLINE]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alerts:\n  webhooks:\n    - name: ops\n      url: http://h/\n      kinds: [camera.bogus]\n",
         "pantau.yaml:5: alerts.webhooks[0].kinds[0]: "),
        ("alerts:\n  webhooks:\n    - name: ops\n      url: gopher://h/\n", "pantau.yaml:4: alerts.webhooks[0].url: "),
        ("alerts:\n  mqtt:\n    url: http://broker\n", "pantau.yaml:3: alerts.mqtt.url: "),
        ("alerts:\n  allowed_hosts: [ok.example]\n  webhooks:\n    - name: ops\n      url: http://evil.example/\n",
         "pantau.yaml:3: alerts.webhooks: "),
    ],
)
def test_check_config_names_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "pantau.yaml"
    path.write_text(text)
    result = subprocess.run([sys.executable, "-m", "gateway", "check-config", str(path)], capture_output=True,
                            text=True, timeout=60, cwd=ROOT, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert result.returncode == 1, result.stdout + result.stderr
    assert expected in result.stdout + result.stderr, result.stdout + result.stderr
