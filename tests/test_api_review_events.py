"""GET /api/v1/review/events on SQLite and PostgreSQL: every source's events appear in time order
(a camera event and the alert it raised, a camera's outage from its state history, a recording gap,
an evidence hold, a case), the kind and text filters work, and the policy refuses (and logs) a
camera the caller may not list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from core.config import CameraConfig
from onvif_adapters.subscription import CameraEvent
from onvif_adapters.topics import EventKind
from tests.gatewayutil import Client, call, make_settings, running_gateway, until

PASSWORD = "password-123"
CAMERAS = [
    # Nothing listens on port 9: the gate goes offline at once, which its state history keeps.
    CameraConfig(id="gate", name="North gate", source="rtsp://127.0.0.1:9/none", record=False, groups=["gates"]),
    CameraConfig(id="lobby", source="rtsp://127.0.0.1:9/lobby", enabled=False, record=False, groups=["indoor"]),
]
ACCESS = {"visibility": {"viewer": ["indoor"], "supervisor": ["indoor", "gates"], "operator": ["*"],
                         "admin": ["*"], "auditor": ["*"]}}


def z(at: datetime) -> str:
    return quote(at.isoformat().replace("+00:00", "Z"))


async def events(client: Client, token: str, query: str, status: int = 200) -> Any:
    return await client.get_json(f"/api/v1/review/events?{query}", token, status=status)


async def test_review_events_merge_every_source_filter_and_refuse(tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path, db_url, CAMERAS, access=ACCESS, review={"preroll_s": 7.5})
    async with running_gateway(settings) as client:
        services = client.gateway.services
        assert services is not None
        for name, role in (("omar", "operator"), ("sam", "supervisor"), ("vera", "viewer")):
            await services.users.add(name, role, PASSWORD)
        omar = await client.sign_in("omar", PASSWORD)
        sam = await client.sign_in("sam", PASSWORD)
        vera = await client.sign_in("vera", PASSWORD)
        admin = await client.sign_in("admin", client.admin_password())
        began = datetime.now(UTC) - timedelta(minutes=10)
        window = f"start={z(began)}&end={z(datetime.now(UTC) + timedelta(minutes=10))}"

        # A motion alarm on and off, as the gate's subscription would hand it over (it also raises
        # the camera.alarm alert), and a tamper alarm still on.
        motion_at = datetime.now(UTC) - timedelta(minutes=5)
        topic = "tns1:RuleEngine/CellMotionDetector/Motion"
        source = {"VideoSourceConfigurationToken": "vsc1"}
        services.events.publish(CameraEvent("gate", EventKind.MOTION, True, motion_at, topic, source, {"IsMotion": "true"}))
        services.events.publish(CameraEvent("gate", EventKind.MOTION, False, motion_at + timedelta(seconds=12), topic,
                                            source, {"IsMotion": "false"}))
        services.events.publish(CameraEvent("gate", EventKind.TAMPER, True, motion_at + timedelta(seconds=30),
                                            "tns1:RuleEngine/TamperDetector/Tamper", {}, {"IsTamper": "true"}))
        # A recording gap, as the recorder's index keeps it.
        index = services.recorder.index
        gap_id = await index.open_gap("gate", motion_at - timedelta(minutes=2), "camera unreachable")
        await index.close_gap(gap_id, motion_at - timedelta(minutes=1))
        # A hold and an incident, over the API.
        hold_body = {"camera": "gate", "start": (motion_at - timedelta(seconds=30)).isoformat(),
                     "end": (motion_at + timedelta(minutes=1)).isoformat(), "reason": "Laporan pencurian motor"}
        await call(client, "POST", "/api/v1/holds", sam, 201, json=hold_body)
        case_body = {"kind": "incident", "title": "Motor dicuri di gerbang utara", "severity": "high",
                     "cameras": ["gate"], "at": (motion_at + timedelta(seconds=3)).isoformat()}
        await call(client, "POST", "/api/v1/cases", omar, 201, json=case_body)

        async def all_sources() -> Any:
            body = await events(client, sam, f"camera=gate&{window}")
            families = {e["kind"].split(".")[0] for e in body["events"]}
            return body if {"onvif", "camera", "recording", "hold", "alert", "case"} <= families else None

        body = await until(all_sources, within=30, what="an event of every source")
        assert body["cameras"] == ["gate"] and body["preroll_s"] == 7.5 and body["truncated"] is False
        got = body["events"]
        assert [e["start"] for e in got] == sorted(e["start"] for e in got)
        for e in got:
            assert set(e) == {"id", "kind", "camera", "start", "end", "title", "detail"} and e["camera"] == "gate"
        by_kind = {e["kind"]: e for e in got}
        motion = by_kind["onvif.motion"]
        assert motion["title"] == "Motion" and topic in motion["detail"]
        assert datetime.fromisoformat(motion["start"]) == motion_at
        assert datetime.fromisoformat(motion["end"]) == motion_at + timedelta(seconds=12)
        assert by_kind["onvif.tamper"]["end"] is None  # still on
        assert by_kind["alert.camera.alarm"]["camera"] == "gate"
        assert by_kind["recording.gap"]["detail"] == "camera unreachable"
        assert "Laporan pencurian motor" in [e["detail"] for e in got if e["kind"] == "hold"]
        assert by_kind["case.incident"]["title"] == "Motor dicuri di gerbang utara"
        assert any(e["kind"] == "camera.offline" for e in got)

        # Kind prefixes and text.
        only = await events(client, sam, f"camera=gate&{window}&kind=onvif")
        assert {e["kind"] for e in only["events"]} == {"onvif.motion", "onvif.tamper"}
        two = await events(client, sam, f"camera=gate&{window}&kind=onvif.motion,hold")
        # (the incident placed a hold of its own besides the one placed by hand)
        assert sorted(e["kind"] for e in two["events"]) == ["hold", "hold", "onvif.motion"]
        assert [e["kind"] for e in (await events(client, sam, f"{window}&kind=case&kind=recording"))["events"]] == [
            "recording.gap", "case.incident"]
        found = await events(client, sam, f"camera=gate&{window}&q=PENCURIAN")
        assert [e["kind"] for e in found["events"]] == ["hold"]
        found = await events(client, sam, f"camera=gate&{window}&q=dicuri")
        assert [e["kind"] for e in found["events"]] == ["case.incident"]
        assert (await events(client, sam, f"camera=gate&{window}&q=nothing-like-this"))["events"] == []
        limited = await events(client, sam, f"camera=gate&{window}&limit=2")
        assert len(limited["events"]) == 2 and limited["truncated"] is True
        # Outside the window: nothing of that day.
        earlier = f"start={z(began - timedelta(days=1))}&end={z(began - timedelta(hours=20))}"
        assert (await events(client, sam, f"camera=gate&{earlier}"))["events"] == []
        await events(client, sam, f"camera=gate&{window}&kind=weather", status=400)
        await events(client, sam, f"camera=gate&start={z(began)}&end={z(began)}", status=400)
        await events(client, sam, "camera=gate", status=400)

        # An operator may not read holds (access.holds.read_roles): the rest, without them.
        theirs = await events(client, omar, f"camera=gate&{window}")
        assert "hold" not in {e["kind"] for e in theirs["events"]}
        assert "onvif.motion" in {e["kind"] for e in theirs["events"]}

        # The policy: vera sees the lobby but may not replay it (403); the gate she does not see at
        # all (404, like a camera that does not exist). Both refusals are in the access log.
        before = (await client.get_json("/api/v1/access-log?action=decision&outcome=deny&limit=1000",
                                        admin))["entries"]
        seen = before[-1]["seq"] if before else 0
        await events(client, vera, f"camera=lobby&{window}", status=403)
        await events(client, vera, f"camera=gate&{window}", status=404)
        await events(client, vera, f"camera=lobby,gate&{window}", status=403)
        denied = (await client.get_json(f"/api/v1/access-log?after={seen}&action=decision&outcome=deny&limit=1000",
                                        admin))["entries"]
        said = [(d["payload"]["actor"], d["payload"]["camera"], d["payload"]["details"]["action"],
                 d["payload"]["details"]["route"]) for d in denied]
        assert ("vera", "lobby", "list_recordings", "/api/v1/review/events") in said
        assert ("vera", "gate", "view_camera", "/api/v1/review/events") in said
        # With no camera named, the cameras she may not list are left out: nothing.
        mine = await events(client, vera, window)
        assert mine["cameras"] == [] and mine["events"] == []
        await events(client, sam, f"camera=nope&{window}", status=404)
        # An allowed listing is logged as listing recordings is.
        await events(client, sam, f"camera=gate&{window}")
        allowed = (await client.get_json(f"/api/v1/access-log?after={seen}&action=decision&outcome=allow&limit=1000",
                                         admin))["entries"]
        assert ("sam", "gate", "list_recordings") in [
            (a["payload"]["actor"], a["payload"].get("camera"), a["payload"]["details"].get("action")) for a in allowed]
