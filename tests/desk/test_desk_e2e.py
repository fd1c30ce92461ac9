"""The shift desk's story with real cameras (two GStreamer RTSP servers, recorded): a shift with a
check, a patrol, an outage of 30 s and an evidence hold, filed and countersigned; the handover says
what happened with its intervals, the access log holds both signatures, the PDF prints it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.config import CameraConfig
from tests.desk.deskutil import call, log_entries, pdf_text, people
from tests.fixtures_camera import CameraServer
from tests.gatewayutil import make_settings, running_gateway, until

OUTAGE_S = 30.0


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_a_shift_with_an_outage_is_handed_over_and_countersigned(
    tmp_path: Path, db_url: str, camera_server: Any
) -> None:
    north: CameraServer = camera_server({"live": "ball"})
    square: CameraServer = camera_server({"live": "smpte"})
    cameras = [
        CameraConfig(id="gate-north", name="Gerbang utara", source=north.url("live"), stall_timeout_s=1.5,
                     backoff={"initial_s": 0.5, "max_s": 1.0}),
        CameraConfig(id="square", name="Alun-alun", source=square.url("live"), stall_timeout_s=1.5,
                     backoff={"initial_s": 0.5, "max_s": 1.0}),
    ]
    settings = make_settings(tmp_path, db_url, cameras, recording={"segment_s": 4},
                             desk={"room_name": "Ruang Kendali CCTV Kota"})
    async with running_gateway(settings) as client:
        t = await people(client, ana="operator", budi="operator", sari="supervisor", audi="auditor")

        async def states() -> dict[str, str]:
            body = await client.get_json("/api/v1/cameras", t["sari"])
            return {c["id"]: c["state"] for c in body["cameras"]}

        await until(lambda: _all(states, "online"), within=30, what="both cameras online")
        shift = await call(client, "POST", "/api/v1/shifts", t["ana"], 201, json={})
        check = await call(client, "POST", "/api/v1/checks", t["ana"], 201, json={
            "cameras": [{"camera": "gate-north", "ok": True}, {"camera": "square", "ok": True, "remark": "sedikit buram"}]})
        assert {c["camera"]: c["state"] for c in check["cameras"]} == {"gate-north": "online", "square": "online"}
        assert all(c["stats"]["fps"] for c in check["cameras"])  # figures taken by the server at that moment
        now = datetime.now(UTC)
        await call(client, "POST", "/api/v1/patrols", t["ana"], 201, json={
            "started_at": (now - timedelta(seconds=12)).isoformat(), "ended_at": now.isoformat(), "cameras": [
                {"camera": "gate-north", "shown_s": 10, "acknowledged": True},
                {"camera": "square", "shown_s": 0.4, "skipped": True}]})
        hold = await call(client, "POST", "/api/v1/holds", t["sari"], 201, json={
            "camera": "gate-north", "start": (now - timedelta(minutes=5)).isoformat(), "end": now.isoformat(),
            "reason": "Laporan pencurian"})

        square.stop()
        killed = datetime.now(UTC)
        await until(lambda: _is(states, "square", "offline"), within=10, what="square offline")
        await asyncio.sleep(OUTAGE_S - (datetime.now(UTC) - killed).total_seconds())
        square.start()
        restarted = datetime.now(UTC)
        await until(lambda: _is(states, "square", "online"), within=30, what="square back online")
        await asyncio.sleep(5)  # a segment or two after the outage, so its gap is closed

        handover = await call(client, "POST", "/api/v1/handovers", t["ana"], 201,
                              json={"notes": "Alun-alun terputus sekitar 30 detik; sudah pulih."})
        content = handover["content"]
        cams = {c["camera"]: c for c in content["cameras"]}
        assert cams["gate-north"]["outages"] == []
        (outage,) = cams["square"]["outages"]
        assert outage["state"] == "offline" and not outage["ongoing"]
        assert OUTAGE_S - 3 <= outage["seconds"] <= OUTAGE_S + 15, outage
        assert killed - timedelta(seconds=1) <= _at(outage["start"]) <= killed + timedelta(seconds=5)
        assert restarted <= _at(outage["end"]) <= restarted + timedelta(seconds=30)
        gaps = [g for g in content["recording_gaps"] if g["camera"] == "square"]
        assert gaps and any(_at(g["start"]) <= _at(outage["end"]) and g["seconds"] >= OUTAGE_S - 5 for g in gaps), gaps
        assert content["patrols"]["done"][0]["skipped"] == ["square"]
        assert content["patrols"]["done"][0]["acknowledged"] == ["gate-north"]
        assert content["checks"][0]["remarks"] == [{"camera": "square", "remark": "sedikit buram"}]
        assert [h["id"] for h in content["open_holds"]] == [hold["id"]]
        assert any(a["kind"] == "camera.offline" and a["camera"] == "square" for a in content["alerts"])

        accepted = await call(client, "POST", f"/api/v1/handovers/{handover['id']}/acceptance", t["budi"], 201,
                              json={})
        got = await call(client, "GET", f"/api/v1/handovers/{handover['id']}", t["sari"], 200)
        assert got["acceptance"]["operator"] == "budi" and got["content"] == content
        filed = [e for e in await log_entries(client, t["audi"], "handover_filed")
                 if e["payload"]["details"]["id"] == handover["id"]]
        taken = [e for e in await log_entries(client, t["audi"], "handover_accepted")
                 if e["payload"]["details"]["handover"] == handover["id"]]
        assert filed[0]["payload"]["actor"] == "ana" and taken[0]["payload"]["actor"] == "budi"
        assert filed[0]["payload"]["details"]["sha256"] == handover["sha256"]
        assert taken[0]["payload"]["details"]["pdf_sha256"] == accepted["acceptance"]["pdf_sha256"]

        pdf = await call(client, "GET", f"/api/v1/handovers/{handover['id']}/pdf", t["budi"], 200)
        printed = await pdf_text(pdf, tmp_path, "handover")
        for words in ("Ruang Kendali CCTV Kota", "Berita Acara Serah Terima Shift", "Alun-alun (square)", "terputus",
                      "Celah rekaman", "Penahanan bukti", "Laporan pencurian", "sedikit buram", "Yang menerima",
                      "budi", f"Log akses #{handover['log_seq']}"):
            assert words in printed, words
        assert handover["sha256"] in printed.replace("\n", "")
        assert shift["id"] == handover["shift_id"]


async def _all(states: Any, want: str) -> bool:
    got = await states()
    return len(got) == 2 and all(s == want for s in got.values())


async def _is(states: Any, camera: str, want: str) -> bool:
    return (await states()).get(camera) == want
