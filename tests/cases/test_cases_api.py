"""Cases over HTTP on both database backends: the lifecycle with its refusals, holds, alerts,
personal data, escalation, emergencies joined by de-duplication, and the signed berita acara."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from cases.signing import verify
from core.clock import ManualClock
from core.config import CameraConfig
from core.db import make_engine
from tests.desk.deskutil import call, log_entries, pdf_text, people
from tests.gatewayutil import make_settings, running_gateway, until

ROOT = Path(__file__).resolve().parents[2]
CAMERAS = [
    CameraConfig(id="cam-1", name="Gerbang utara", source="rtsp://127.0.0.1:9/a", enabled=False, groups=["gates"]),
    CameraConfig(id="cam-2", name="Alun-alun", source="rtsp://127.0.0.1:9/b", enabled=False, groups=["square"]),
]
CASES = {
    "directory": [{"id": "damkar", "name": "Dinas Pemadam Kebakaran", "phone": "113"},
                  {"id": "kadis", "name": "Kepala Dinas", "kind": "leadership"}],
    "playbooks": [{"id": "panic", "name_id": "Tombol panik kota", "name_en": "City panic button", "groups": ["square"],
                   "dedup_s": 60, "escalate_after_s": 30,
                   "steps": [{"id": "look", "text_id": "Lihat kamera alun-alun"},
                             {"id": "call", "text_id": "Hubungi Damkar", "contact": "damkar"}]}],
}


async def test_an_incident_from_raise_to_signed_minutes(tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path, db_url, CAMERAS, cases=CASES)
    async with running_gateway(settings) as client:
        t = await people(client, ana="operator", sari="supervisor", vera="viewer", audi="auditor")
        body = {"kind": "incident", "title": "Perkelahian di gerbang", "severity": "high", "cameras": ["cam-1"],
                "description": "Dua orang berkelahi dekat pos."}
        await call(client, "POST", "/api/v1/cases", t["vera"], 403, json=body)
        await call(client, "POST", "/api/v1/cases", t["ana"], 400, json={**body, "cameras": ["nope"]})
        await call(client, "POST", "/api/v1/cases", t["ana"], 400, json={**body, "kind": "rumour"})
        await call(client, "POST", "/api/v1/cases", t["ana"], 400, json={**body, "reporter": {"name": "x"}})
        case = await call(client, "POST", "/api/v1/cases", t["ana"], 201, json=body)
        assert case["state"] == "opened" and case["cameras"] == ["cam-1"] and case["opened_by"] == "ana"
        (hold,) = case["holds"]
        at = datetime.fromisoformat(case["at"].replace("Z", "+00:00"))
        assert hold["camera"] == "cam-1"
        assert datetime.fromisoformat(hold["start"].replace("Z", "+00:00")) == at - timedelta(minutes=10)
        holds = await client.get_json("/api/v1/holds?active=true", t["sari"])
        assert [h["reason"] for h in holds["holds"]] == [f"case {case['id']}"]

        async def alerted() -> Any:
            got = await client.get_json("/api/v1/alerts?kinds=case.opened", t["sari"])
            return got["alerts"]

        (alert,) = await until(alerted, within=5, what="case.opened alert")
        assert alert["details"]["case"] == case["id"] and alert["severity"] == "critical"
        assert "Perkelahian di gerbang" in alert["summary"]["id"]

        cid = case["id"]
        forward = {"to": "damkar", "channel": "phone", "note": "sudah ditelepon"}
        problem = await call(client, "POST", f"/api/v1/cases/{cid}/forwards", t["ana"], 409, json=forward)
        assert "acknowledge it first" in problem["detail"]
        await call(client, "POST", f"/api/v1/cases/{cid}/acknowledgement", t["vera"], 403, json={})
        await call(client, "POST", f"/api/v1/cases/{cid}/acknowledgement", t["sari"], 201, json={"note": "saya ambil"})
        await call(client, "POST", f"/api/v1/cases/{cid}/acknowledgement", t["ana"], 409, json={})
        await call(client, "POST", f"/api/v1/cases/{cid}/forwards", t["ana"], 400, json={**forward, "to": "nobody"})
        await call(client, "POST", f"/api/v1/cases/{cid}/forwards", t["ana"], 201, json=forward)
        await call(client, "POST", f"/api/v1/cases/{cid}/follow-ups", t["ana"], 201,
                   json={"action": "Petugas Satpol PP tiba di lokasi"})
        await call(client, "POST", f"/api/v1/cases/{cid}/closure", t["sari"], 409, json={})  # not resolved yet
        await call(client, "POST", f"/api/v1/cases/{cid}/resolution", t["ana"], 201,
                   json={"outcome": "Pihak yang berkelahi dibawa ke Polsek."})
        await call(client, "POST", f"/api/v1/cases/{cid}/closure", t["ana"], 403, json={})  # leadership closes
        closed = await call(client, "POST", f"/api/v1/cases/{cid}/closure", t["sari"], 201,
                            json={"parties": ["Budi (Satpol PP)"], "conclusion": "Situasi kembali kondusif."})
        now = datetime.now(UTC).astimezone(settings.desk.zone)
        assert closed["state"] == "closed" and closed["number"] == f"BA/CCTV/{now.year}/{now.month:02d}/0001"
        kinds = [e["kind"] for e in closed["timeline"]]
        assert kinds == ["opened", "hold_placed", "acknowledged", "forwarded", "followed_up", "resolved", "closed"]
        for verb, payload in [("acknowledgement", {}), ("forwards", forward), ("resolution", {"outcome": "x"}),
                              ("closure", {})]:
            await call(client, "POST", f"/api/v1/cases/{cid}/{verb}", t["sari"], 409, json=payload)
        amended = await call(client, "POST", f"/api/v1/cases/{cid}/amendments", t["ana"], 201,
                             json={"text": "Nama petugas: Budi Santoso."})
        assert amended["timeline"][-1]["kind"] == "amended" and amended["number"] == closed["number"]

        pdf = await call(client, "GET", f"/api/v1/cases/{cid}/berita-acara.pdf", t["audi"], 200)
        signature = (await call(client, "GET", f"/api/v1/cases/{cid}/berita-acara.sig", t["audi"], 200)).decode()
        assert hashlib.sha256(pdf).hexdigest() == closed["berita_acara"]["pdf_sha256"]
        public = (settings.data_dir / "keys" / "berita-acara.pub.pem").read_bytes()
        assert verify(pdf, signature.strip(), public)
        assert not verify(pdf[:-10] + bytes([pdf[-10] ^ 1]) + pdf[-9:], signature.strip(), public)
        printed = await pdf_text(pdf, tmp_path, "minutes")
        assert closed["number"] in printed and "Perkelahian di gerbang" in printed

        # Every event in the access log with its hash; the closing with the PDF's.
        for action in ("case_opened", "case_acknowledged", "case_forwarded", "case_resolved", "case_closed",
                       "case_amended"):
            entries = [e for e in await log_entries(client, t["audi"], action)
                       if e["payload"]["details"].get("case") == cid]
            assert entries, action
        closing = next(e for e in closed["timeline"] if e["kind"] == "closed")
        assert closing["content"]["pdf_sha256"] == hashlib.sha256(pdf).hexdigest()

    # Every transition is in the log, and the log still verifies offline against its signed checkpoints.
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "PANTAU_DATABASE__URL": db_url,
           "PANTAU_DATA_DIR": str(settings.data_dir)}
    verified = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "gateway", "verify-log"], cwd=tmp_path,
                                       capture_output=True, text=True, timeout=60, env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    engine = make_engine(db_url)
    try:
        for sql in (f"UPDATE cases SET title = 'x' WHERE id = '{cid}'", "DELETE FROM cases",
                    "UPDATE case_events SET actor = 'x'", "DELETE FROM berita_acara"):
            async with engine.connect() as conn:
                with pytest.raises(Exception, match="immutable|deleted"):
                    await conn.execute(text(sql))
    finally:
        await engine.dispose()


async def test_a_complaint_keeps_its_reporter_to_those_who_may_see_it(tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path, db_url, CAMERAS, cases=CASES)
    async with running_gateway(settings) as client:
        t = await people(client, ana="operator", audi="auditor")
        admin = await client.sign_in("admin", client.admin_password())
        body = {"kind": "complaint", "title": "Lampu jalan mati", "channel": "phone", "category": "fasilitas umum",
                "location": "Jl. Merdeka 10", "reporter": {"name": "Siti", "contact": "0812-0000-1111"},
                "cameras": ["cam-2"], "window_start": "2026-12-01T10:00:00Z", "window_end": "2026-12-01T10:30:00Z"}
        await call(client, "POST", "/api/v1/cases", t["ana"], 400, json={**body, "category": "gossip"})
        await call(client, "POST", "/api/v1/cases", t["ana"], 400, json={**body, "channel": None})
        case = await call(client, "POST", "/api/v1/cases", t["ana"], 201, json=body)
        assert case["reporter"] == {"name": "Siti", "contact": "0812-0000-1111"}
        assert [(h["camera"], h["start"]) for h in case["holds"]] == [("cam-2", "2026-12-01T10:00:00Z")]
        hidden = await call(client, "GET", f"/api/v1/cases/{case['id']}", admin, 200)
        assert hidden["reporter"] is None and hidden["reporter_hidden"] is True
        opened = hidden["timeline"][0]["content"]
        assert "Siti" not in str(opened) and len(opened["reporter_sha256"]) == 64
        listed = await call(client, "GET", "/api/v1/cases?kind=complaint", admin, 200)
        assert listed["cases"][0]["reporter"] is None
        await call(client, "GET", f"/api/v1/cases/{case['id']}", t["audi"], 200)
        seen = await log_entries(client, admin, "decision")
        assert any(e["payload"]["actor"] == "audi" and e["payload"]["details"]["action"] == "read_reporter"
                   for e in seen)

        # Worked through and resolved, it is in the month's report with its times, without the reporter.
        cid = case["id"]
        await call(client, "POST", f"/api/v1/cases/{cid}/acknowledgement", t["ana"], 201, json={})
        await call(client, "POST", f"/api/v1/cases/{cid}/forwards", t["ana"], 201,
                   json={"name": "UPT Penerangan Jalan", "channel": "letter"})
        await call(client, "POST", f"/api/v1/cases/{cid}/resolution", t["ana"], 201, json={"outcome": "Lampu diganti."})
        await call(client, "POST", f"/api/v1/cases/{cid}/follow-ups", t["ana"], 409, json={"action": "x"})
        month = datetime.now(UTC).astimezone(settings.desk.zone).strftime("%Y-%m")
        csv_text = (await call(client, "GET", f"/api/v1/complaints/report?month={month}&format=csv", t["audi"],
                               200)).decode()
        header, *rows = csv_text.strip().splitlines()
        assert len(rows) == 1 and cid in rows[0] and "fasilitas umum" in rows[0]
        assert "Siti" not in csv_text and "0812" not in csv_text
        report = await call(client, "GET", f"/api/v1/complaints/report?month={month}", t["audi"], 200)
        assert report is not None
        pdf = await call(client, "GET", f"/api/v1/complaints/report?month={month}&format=pdf", t["audi"], 200)
        assert "fasilitas umum" in await pdf_text(pdf, tmp_path, "complaints")
        await call(client, "GET", "/api/v1/complaints/report?month=2026-13", t["audi"], 400)


async def test_an_unacknowledged_case_escalates_and_emergencies_join(tmp_path: Path, db_url: str) -> None:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    settings = make_settings(tmp_path, db_url, CAMERAS, cases={**CASES, "ack_timeout_s": 60})
    async with running_gateway(settings, clock) as client:
        t = await people(client, ana="operator", sari="supervisor", vera="viewer")
        services = client.gateway.services
        assert services is not None
        book = services.cases
        (first, created), (again, joined) = await asyncio.gather(
            book.open_emergency("panic", "http", {"note": "tombol 3"}), book.open_emergency("panic", "mqtt", {}))
        assert created and not joined and first["id"] == again["id"]  # two triggers, one case
        assert first["cameras"] == ["cam-2"] and [s["id"] for s in first["steps"]] == ["look", "call"]
        assert first["steps"][1]["contact"]["phone"] == "113"
        incident = await call(client, "POST", "/api/v1/cases", t["ana"], 201,
                              json={"kind": "incident", "title": "Asap", "cameras": ["cam-1"]})

        # A viewer (a wall, an enrolled display) hears of the emergency on a camera it sees, so its wall
        # can show it; of the incident it hears nothing (case alerts are the room's, not the wall's).
        async def viewer_alerts() -> Any:
            got = await client.get_json("/api/v1/alerts?kinds=case.opened", t["vera"])
            return got["alerts"]

        seen = await until(viewer_alerts, within=5, what="the emergency's alert reaching a viewer")
        await asyncio.sleep(0.5)
        assert [a["details"]["case"] for a in await viewer_alerts()] == [first["id"]]
        assert seen[0]["details"]["cameras"] == "cam-2"
        # The gateway's own watch (a pass a second) escalates; the test moves the clock and waits.
        async def escalated(case_id: str, times: int) -> bool:
            got = await client.get_json(f"/api/v1/cases/{case_id}", t["sari"])
            return bool(got["escalations"] >= times)

        clock.advance(31)  # the playbook escalates after 30 s, incidents after 60 s
        await until(lambda: escalated(first["id"], 1), within=5, what="the emergency escalated")
        assert (await call(client, "GET", f"/api/v1/cases/{incident['id']}", t["sari"], 200))["escalations"] == 0
        clock.advance(30)
        await until(lambda: escalated(first["id"], 2), within=5, what="the emergency escalated again")
        await until(lambda: escalated(incident["id"], 1), within=5, what="the incident escalated")
        got = await call(client, "GET", f"/api/v1/cases/{first['id']}", t["sari"], 200)
        assert got["escalations"] == 2 and [e["kind"] for e in got["timeline"]].count("escalated") == 2
        assert [e["kind"] for e in got["timeline"]].count("triggered") == 1
        await call(client, "POST", f"/api/v1/cases/{first['id']}/steps/look", t["ana"], 201, json={})  # before ack too
        await call(client, "POST", f"/api/v1/cases/{first['id']}/steps/look", t["ana"], 409, json={})
        await call(client, "POST", f"/api/v1/cases/{first['id']}/steps/nope", t["ana"], 404, json={})
        await call(client, "POST", f"/api/v1/cases/{first['id']}/acknowledgement", t["ana"], 201, json={})
        clock.advance(600)
        await until(lambda: escalated(incident["id"], 2), within=5, what="the incident escalated again")
        assert (await call(client, "GET", f"/api/v1/cases/{first['id']}", t["sari"], 200))["escalations"] == 2

        async def escalations() -> Any:
            got = await client.get_json("/api/v1/alerts?kinds=case.escalated", t["sari"])
            return len(got["alerts"]) >= 4 and got["alerts"]

        alerts = await until(escalations, within=5, what="case.escalated alerts")
        assert {a["details"]["case"] for a in alerts} == {first["id"], incident["id"]}
        # The open incident's hold was extended while it stayed open (in the watch's pass that
        # escalated it, just after the escalation's alert).
        async def extended() -> Any:
            got = (await call(client, "GET", f"/api/v1/cases/{incident['id']}", t["sari"], 200))["holds"]
            return len(got) >= 2 and got

        holds = await until(extended, within=5, what="the incident's hold extended")
        assert holds[-1]["start"] == holds[0]["end"]
