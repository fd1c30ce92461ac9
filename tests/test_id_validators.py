"""Names and ids are checked whole (issue 20): `re.match` with a pattern ending in `$` let a trailing
newline through ("gate\n" was a valid camera id, because `$` also matches before a final newline).
Each validator is asked with the good value, then the same value with a newline after it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, cast

import pytest

from core.alertsconfig import WebhookConfig
from core.casesconfig import Contact, TriggerBroker
from core.clock import SystemClock
from core.config import CameraConfig
from core.deskconfig import EquipmentItem, Probe
from core.errors import BadRequest
from core.schemes import check_onvif_source
from policy.audit.dbrole import app_role_grants
from policy.dispositions.forms import RequestForm, check_form
from policy.identity.users import UserStore
from recorder.store import SUFFIX, parse_segment_name, stamp

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _request(camera: str) -> None:
    check_form(RequestForm("Budi", "Polres", "Theft", "B/1/2026", date(2026, 3, 1), (camera,),
                           START, START.replace(hour=9)), 0)


class _ReachedTheDatabase(Exception):
    pass


def _no_database() -> None:
    raise _ReachedTheDatabase


def _user(name: str) -> None:
    # The name is checked before the database is used: reaching it means the name was accepted.
    with contextlib.suppress(_ReachedTheDatabase):
        asyncio.run(UserStore(cast(Any, _no_database), SystemClock()).add(name, "viewer", "a-long-password"))


def _segment(base: str) -> None:
    if parse_segment_name(base + SUFFIX) is None:
        raise ValueError("not a segment name")


CHECKS: list[tuple[str, Callable[[str], object], str]] = [
    ("camera id", lambda v: CameraConfig(id=v, source="rtsp://127.0.0.1/x"), "gate-north"),
    ("playback request camera", _request, "gate-north"),
    ("username", _user, "ana.s"),
    ("database role", app_role_grants, "pantau_app"),
    ("segment file name", _segment, f"gate-north_{stamp(START)}"),
    ("webhook name", lambda v: WebhookConfig(name=v, url="https://example.org/hook"), "ops-room"),
    ("equipment id", lambda v: EquipmentItem(id=v, name="UPS"), "ups-1"),
    ("equipment tcp probe", lambda v: Probe(tcp=v), "10.0.0.1:554"),
    ("equipment ping host", lambda v: Probe(icmp=v), "nvr.local"),
    ("contact id", lambda v: Contact(id=v, name="Damkar Kota"), "damkar"),
    ("trigger broker url", lambda v: TriggerBroker(url=v), "mqtt://broker:1883"),
    ("onvif profile", lambda v: check_onvif_source(f"onvif://10.0.0.2/?profile={v}"), "main"),
]


@pytest.mark.parametrize(("what", "check", "good"), CHECKS, ids=[c[0] for c in CHECKS])
def test_a_trailing_newline_is_refused(what: str, check: Callable[[str], object], good: str) -> None:
    check(good)
    bad = good + "\n" if what != "onvif profile" else good + "%0A"
    with pytest.raises((ValueError, BadRequest)):
        check(bad)
