"""The shift desk over HTTP on both database backends: shifts, checks, patrols, handovers, their
refusals, immutability and printing (cameras configured but not pulled; tests/desk/test_desk_e2e.py
runs the story with real cameras)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from core.clock import ManualClock
from core.config import CameraConfig
from core.db import make_engine
from tests.desk.deskutil import call, log_entries, pdf_text, people
from tests.gatewayutil import make_settings, running_gateway, until

CAMERAS = [
    CameraConfig(id="cam-1", name="Gerbang utara", source="rtsp://127.0.0.1:9/a", enabled=False, groups=["gates"]),
    CameraConfig(id="cam-2", name="Alun-alun", source="rtsp://127.0.0.1:9/b", enabled=False, groups=["square"]),
]
DESK = {"equipment": [{"id": "db", "name": "Database", "kind": "server", "probe": {"database": True}},
                      {"id": "phone", "name": "Telepon pengaduan", "kind": "telephone"}]}


def patrol_body(start: datetime, end: datetime) -> dict[str, object]:
    return {"group": "", "started_at": start.isoformat(), "ended_at": end.isoformat(), "cameras": [
        {"camera": "cam-1", "shown_s": 5, "acknowledged": True},
        {"camera": "cam-2", "shown_s": 0, "skipped": True}]}


async def test_the_shift_from_sign_on_to_countersignature(tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path, db_url, CAMERAS, desk=DESK)
    async with running_gateway(settings) as client:
        t = await people(client, ana="operator", budi="operator", sari="supervisor", vera="viewer", audi="auditor")
        await call(client, "POST", "/api/v1/shifts", t["vera"], 403, json={})
        assert (await call(client, "GET", "/api/v1/shifts/current", t["vera"], 200))["on_duty"] == []
        await call(client, "POST", "/api/v1/checks", t["ana"], 409, json={})  # no open shift yet

        shift = await call(client, "POST", "/api/v1/shifts", t["ana"], 201, json={})
        assert shift["operator"] == "ana" and shift["open"] and shift["slot"] in ("Pagi", "Siang", "Malam")
        await call(client, "POST", "/api/v1/shifts", t["ana"], 409, json={})
        await call(client, "POST", "/api/v1/shifts", t["budi"], 400, json={"opened_at": "2026-01-01T00:00:00Z"})
        duty = await call(client, "GET", "/api/v1/shifts/current", t["vera"], 200)
        assert [d["operator"] for d in duty["on_duty"]] == ["ana"] and duty["mine"] is None

        # Bad checks are refused whole: nothing is stored.
        bad = [
            ({"cameras": [{"camera": "nope", "ok": True}]}, "no camera 'nope'"),
            ({"cameras": [{"camera": "cam-1", "ok": True, "remark": "x" * 1001}]}, "at most 1000"),
            ({"cameras": [{"camera": "cam-1", "ok": True}, {"camera": "cam-1", "ok": False}]}, "listed twice"),
            ({"cameras": [{"camera": "cam-1", "ok": "maybe"}]}, "cameras.0.ok"),
            ({"equipment": [{"id": "ups", "ok": True}]}, "no equipment item 'ups'"),
            ({"colour": "red"}, "colour"),
        ]
        for body, said in bad:
            problem = await call(client, "POST", "/api/v1/checks", t["ana"], 400, json=body)
            assert said in problem["detail"], (body, problem)
        assert (await call(client, "GET", "/api/v1/checks", t["ana"], 200))["checks"] == []

        check = await call(client, "POST", "/api/v1/checks", t["ana"], 201, json={
            "cameras": [{"camera": "cam-1", "ok": True}, {"camera": "cam-2", "ok": False, "remark": "lensa berembun"}],
            "equipment": [{"id": "phone", "ok": True}], "notes": "awal shift"})
        by_cam = {c["camera"]: c for c in check["cameras"]}
        assert by_cam["cam-2"]["remark"] == "lensa berembun" and by_cam["cam-2"]["state"] == "disabled"
        assert by_cam["cam-1"]["checked"] and by_cam["cam-1"]["stats"] is not None
        equipment = {e["id"]: e for e in check["equipment"]}
        assert equipment["db"]["probe"]["ok"] and not equipment["db"]["checked"]
        assert equipment["phone"]["checked"] and equipment["phone"]["probe"] is None
        partial = await call(client, "POST", "/api/v1/checks", t["ana"], 201, json={
            "cameras": [{"camera": "cam-1", "ok": True}]})
        assert not {c["camera"]: c for c in partial["cameras"]}["cam-2"]["checked"]

        now = datetime.now(UTC)
        await call(client, "POST", "/api/v1/patrols", t["ana"], 400, json={
            **patrol_body(now - timedelta(seconds=5), now), "cameras": [{"camera": "cam-1", "shown_s": 1,
                                                                         "acknowledged": True, "skipped": True}]})
        await call(client, "POST", "/api/v1/patrols", t["ana"], 400, json=patrol_body(now, now - timedelta(seconds=5)))
        patrol = await call(client, "POST", "/api/v1/patrols", t["ana"], 201,
                            json=patrol_body(now - timedelta(seconds=10), now))
        assert [c["skipped"] for c in patrol["cameras"]] == [False, True]

        # Reading: an operator their own records, readers everyone's, viewers nothing.
        await call(client, "GET", f"/api/v1/checks/{check['id']}", t["budi"], 403)
        assert (await call(client, "GET", "/api/v1/checks", t["budi"], 200))["checks"] == []
        assert len((await call(client, "GET", "/api/v1/checks", t["audi"], 200))["checks"]) == 2
        await call(client, "GET", "/api/v1/patrols", t["vera"], 403)
        text_check = await pdf_text(await call(client, "GET", f"/api/v1/checks/{check['id']}/pdf", t["sari"], 200),
                                    tmp_path, "check")
        assert "Laporan Pemeriksaan Kamera dan Peralatan" in text_check and "lensa berembun" in text_check
        assert check["sha256"] in text_check.replace("\n", "")
        await call(client, "GET", f"/api/v1/patrols/{patrol['id']}/pdf?lang=fr", t["ana"], 400)

        # The draft is what would be filed; another's shift is not theirs to file.
        draft = await call(client, "GET", "/api/v1/handovers/draft", t["ana"], 200)
        assert draft["content"]["patrols"]["done"][0]["skipped"] == ["cam-2"]
        await call(client, "GET", "/api/v1/handovers/draft", t["budi"], 409)
        problem = await call(client, "POST", "/api/v1/handovers", t["budi"], 403, json={"shift_id": shift["id"]})
        assert "ana's" in problem["detail"]
        await call(client, "POST", "/api/v1/handovers", t["ana"], 400, json={"notes": "n" * 20_001})
        handover = await call(client, "POST", "/api/v1/handovers", t["ana"], 201,
                              json={"notes": "Kamera 2 berembun, teknisi dihubungi."})
        content = handover["content"]
        assert content["notes"].startswith("Kamera 2") and handover["acceptance"] is None
        assert [k["not_checked"] for k in content["checks"]] == [[], ["cam-2"]]
        assert content["checks"][0]["not_ok"] == [{"camera": "cam-2", "remark": "lensa berembun"}]
        assert (await call(client, "GET", f"/api/v1/shifts/{shift['id']}", t["ana"], 200))["open"] is False
        await call(client, "POST", "/api/v1/handovers", t["ana"], 409, json={"shift_id": shift["id"]})
        await call(client, "POST", "/api/v1/handovers", t["ana"], 409, json={})  # no open shift any more
        pending = await call(client, "GET", "/api/v1/handovers?pending=true", t["budi"], 200)
        assert [h["id"] for h in pending["handovers"]] == [handover["id"]]

        # Countersigning: not one's own, once only; then nothing changes it.
        await call(client, "POST", f"/api/v1/handovers/{handover['id']}/acceptance", t["ana"], 403, json={})
        await call(client, "POST", f"/api/v1/handovers/{handover['id']}/acceptance", t["vera"], 403, json={})
        accepted = await call(client, "POST", f"/api/v1/handovers/{handover['id']}/acceptance", t["budi"], 201,
                              json={"objections": "Catatan kamera 2 kurang rinci."})
        assert accepted["acceptance"]["operator"] == "budi"
        await call(client, "POST", f"/api/v1/handovers/{handover['id']}/acceptance", t["sari"], 409, json={})
        for method in ("PUT", "PATCH", "DELETE"):
            await call(client, method, f"/api/v1/handovers/{handover['id']}", t["sari"], 409, json={"notes": "x"})
        await call(client, "GET", "/api/v1/handovers/nope", t["sari"], 404)

        # The access log holds both, with the record's hash and the accepted PDF's hash.
        filed = await log_entries(client, t["audi"], "handover_filed")
        accepted_entries = await log_entries(client, t["audi"], "handover_accepted")
        assert filed[0]["payload"]["details"]["sha256"] == handover["sha256"] == accepted["sha256"]
        assert filed[0]["seq"] == handover["log_seq"]
        pdf = await call(client, "GET", f"/api/v1/handovers/{handover['id']}/pdf", t["budi"], 200)
        details = accepted_entries[0]["payload"]["details"]
        assert details["pdf_sha256"] == hashlib.sha256(pdf).hexdigest() == accepted["acceptance"]["pdf_sha256"]
        assert details["handover_sha256"] == handover["sha256"] and details["objections"] is True
        printed = await pdf_text(pdf, tmp_path, "handover")
        flat = printed.replace("\n", "")
        for words in ("Berita Acara Serah Terima Shift", "Yang menyerahkan", "Yang menerima", "Keberatan penerima",
                      "lensa berembun", f"Log akses #{handover['log_seq']}"):
            assert words in printed, words
        assert handover["sha256"] in flat
        english = await pdf_text(await call(client, "GET", f"/api/v1/handovers/{handover['id']}/pdf?lang=en",
                                            t["audi"], 200), tmp_path, "handover-en")
        assert "Shift handover report" in english and "Taken over by" in english

        # A correction is a new record; the handover itself is as it was.
        amendment = await call(client, "POST", f"/api/v1/handovers/{handover['id']}/amendments", t["ana"], 201,
                               json={"text": "Teknisi datang pukul 10.00."})
        again = await call(client, "GET", f"/api/v1/handovers/{handover['id']}", t["sari"], 200)
        assert again["sha256"] == handover["sha256"] and again["amendments"][0]["id"] == amendment["id"]
        assert (await log_entries(client, t["audi"], "handover_amended"))[0]["payload"]["details"]["handover"] \
            == handover["id"]

    # Below the API: the tables refuse changes (SQLite: triggers; PostgreSQL also: as the app role,
    # tests/test_app_role.py).
    engine = make_engine(db_url)
    try:
        for sql in ("UPDATE desk_handovers SET content = '{}'", "DELETE FROM desk_acceptances",
                    "UPDATE desk_checks SET sha256 = 'x'", "DELETE FROM desk_shifts"):
            async with engine.connect() as conn:
                with pytest.raises(Exception, match="immutable"):
                    await conn.execute(text(sql))
        async with engine.connect() as conn:
            stored = (await conn.execute(text("SELECT content FROM desk_handovers"))).scalar_one()
        assert json.loads(stored)["content"]["notes"].startswith("Kamera 2")
    finally:
        await engine.dispose()


async def test_a_missed_patrol_alerts_and_shows_on_the_handover(tmp_path: Path, db_url: str) -> None:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    settings = make_settings(tmp_path, db_url, CAMERAS, desk={"patrol_interval_min": 60, "shifts": []})
    async with running_gateway(settings, clock) as client:
        t = await people(client, ana="operator", sari="supervisor")
        shift = await call(client, "POST", "/api/v1/shifts", t["ana"], 201)
        assert shift["slot"] is None  # no schedule: ad hoc
        watch = client.gateway.services.desk.patrol_watch  # type: ignore[union-attr]
        assert await watch.check() == []
        clock.advance(30 * 60)
        start = clock.now()
        clock.advance(60)
        await call(client, "POST", "/api/v1/patrols", t["ana"], 201, json=patrol_body(start, clock.now()))
        clock.advance(150 * 60)  # 2.5 h without a patrol: one is missed
        assert await watch.check() == [shift["id"]]
        assert await watch.check() == []  # announced once per due time

        async def alerted() -> list[dict[str, object]]:
            body = await client.get_json("/api/v1/alerts?kinds=patrol.missed", t["sari"])
            return body["alerts"]  # type: ignore[no-any-return]

        alert = (await until(alerted, what="patrol.missed alert"))[0]
        assert alert["details"]["operator"] == "ana" and alert["details"]["minutes"] == 150
        assert "patroli" in alert["summary"]["id"]
        handover = await call(client, "POST", "/api/v1/handovers", t["ana"], 201, json={})
        missed = handover["content"]["patrols"]["missed"]
        assert len(missed) == 1
        assert missed[0]["start"] == (start + timedelta(seconds=60) + timedelta(minutes=60)).isoformat().replace(
            "+00:00", "Z")
        assert any(a["kind"] == "patrol.missed" for a in handover["content"]["alerts"])


async def test_a_supervisor_closes_an_abandoned_shift(tmp_path: Path, db_url: str) -> None:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    settings = make_settings(tmp_path, db_url, CAMERAS, desk={"patrol_interval_min": 60, "shifts": []})
    async with running_gateway(settings, clock) as client:
        t = await people(client, ana="operator", budi="operator", sari="supervisor")
        shift = await call(client, "POST", "/api/v1/shifts", t["ana"], 201)
        path = f"/api/v1/shifts/{shift['id']}/closure"
        await call(client, "POST", path, t["budi"], 403, json={"reason": "Ana pulang sakit"})
        await call(client, "POST", path, t["sari"], 400, json={})
        await call(client, "POST", "/api/v1/shifts/nope/closure", t["sari"], 404, json={"reason": "x"})
        clock.advance(3 * 3600)  # left open: patrols are missed meanwhile
        handover = await call(client, "POST", path, t["sari"], 201,
                              json={"reason": "Ana pulang sakit pukul 10.00; shift ditutup pimpinan."})
        assert handover["operator"] == "sari" and handover["closed_for"] == "ana"
        assert handover["content"]["notes"].startswith("Ana pulang sakit")
        assert len(handover["content"]["patrols"]["missed"]) == 1
        await call(client, "POST", path, t["sari"], 409, json={"reason": "again"})
        duty = await call(client, "GET", "/api/v1/shifts/current", t["budi"], 200)
        assert duty["on_duty"] == []  # no longer on duty, and no more patrol.missed for it
        assert await client.gateway.services.desk.patrol_watch.check() == []  # type: ignore[union-attr]
        # The next shift countersigns it as any handover; the supervisor may not countersign their own filing.
        await call(client, "POST", f"/api/v1/handovers/{handover['id']}/acceptance", t["sari"], 403, json={})
        await call(client, "POST", f"/api/v1/handovers/{handover['id']}/acceptance", t["budi"], 201, json={})
