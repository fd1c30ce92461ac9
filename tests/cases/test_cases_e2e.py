"""An incident on real cameras: raised, held while retention runs out of room, worked through and
closed; the berita acara lists every held segment's SHA-256 and its detached signature verifies
offline with `pantau verify-berita-acara` (and fails on one changed byte)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.config import CameraConfig
from tests.desk.deskutil import call, pdf_text, people
from tests.fixtures_camera import CameraServer
from tests.gatewayutil import make_settings, running_gateway, until

ROOT = Path(__file__).resolve().parents[2]
SEGMENT_S = 2.0
# Room for a few segments only: retention must delete the oldest unheld ones all the time.
BUDGET = 900_000


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


async def test_an_incident_holds_its_recordings_and_closes_with_signed_minutes(
    tmp_path: Path, db_url: str, camera_server: Any
) -> None:
    server: CameraServer = camera_server({"gate": "ball", "square": "smpte"})
    cameras = [CameraConfig(id="gate-north", name="Gerbang utara", source=server.url("gate")),
               CameraConfig(id="square", name="Alun-alun", source=server.url("square"))]
    settings = make_settings(
        tmp_path, db_url, cameras,
        recording={"segment_s": SEGMENT_S, "max_bytes": BUDGET, "min_free_bytes": 0, "retention_interval_s": 1,
                   "min_retention_days": 0},
        cases={"hold_before_min": 0, "hold_after_min": 1,
               "directory": [{"id": "polsek", "name": "Polsek Kota", "phone": "110"}]},
        desk={"room_name": "Ruang Kendali CCTV Kota"},
    )
    async with running_gateway(settings) as client:
        t = await people(client, ana="operator", sari="supervisor")

        async def segments(camera: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
            body = await client.get_json(f"/api/v1/recordings?camera={camera}&start={_iso(start)}&end={_iso(end)}",
                                         t["sari"])
            return body["segments"]  # type: ignore[no-any-return]

        began = datetime.now(UTC)
        await until(lambda: segments("gate-north", began, datetime.now(UTC)), within=30, what="a first segment")
        await until(lambda: segments("square", began, datetime.now(UTC)), within=30, what="the square's first")
        case = await call(client, "POST", "/api/v1/cases", t["ana"], 201, json={
            "kind": "incident", "title": "Pencurian sepeda motor", "severity": "high", "cameras": ["gate-north"],
            "description": "Sepeda motor diambil dari depan pos.", "at": _iso(datetime.now(UTC) - timedelta(seconds=1)),
            "snapshot": True})
        (hold,) = case["holds"]
        (taken,) = next(e for e in case["timeline"] if e["kind"] == "snapshot_taken")["content"]["snapshots"]
        jpeg = await call(client, "GET", f"/api/v1/cases/{case['id']}/snapshots/gate-north.jpg", t["sari"], 200)
        assert jpeg[:2] == b"\xff\xd8" and hashlib.sha256(jpeg).hexdigest() == taken["sha256"]
        await call(client, "GET", f"/api/v1/cases/{case['id']}/snapshots/square.jpg", t["sari"], 404)
        start, end = (datetime.fromisoformat(hold[k].replace("Z", "+00:00")) for k in ("start", "end"))

        # Well past the budget: retention deletes the square's old segments, never the held ones.
        await asyncio.sleep(24)
        square = await segments("square", began, datetime.now(UTC))
        held = await segments("gate-north", start, end)
        # The square's early segments are gone (maybe all of them: the held ones fill the budget) ...
        assert not square or _at(square[0]["start"]) > began + timedelta(seconds=8), "retention did not run"
        assert held and _at(held[0]["start"]) <= start
        spans = [(_at(s["start"]), _at(s["end"])) for s in held]
        gaps = [(b[0] - a[1]).total_seconds() for a, b in zip(spans, spans[1:], strict=False)]
        assert all(g < 1.0 for g in gaps), f"a held segment was deleted: {spans}"

        cid = case["id"]
        await call(client, "POST", f"/api/v1/cases/{cid}/acknowledgement", t["sari"], 201, json={})
        await call(client, "POST", f"/api/v1/cases/{cid}/forwards", t["sari"], 201,
                   json={"to": "polsek", "channel": "phone", "note": "Piket Polsek menerima laporan"})
        await call(client, "POST", f"/api/v1/cases/{cid}/resolution", t["sari"], 201,
                   json={"outcome": "Rekaman diserahkan ke Polsek sesuai disposisi."})
        await asyncio.sleep(SEGMENT_S * 2)  # the segment under way when the case closes is sealed too
        closing = datetime.now(UTC)
        closed = await call(client, "POST", f"/api/v1/cases/{cid}/closure", t["sari"], 201,
                            json={"parties": ["Aiptu Budi (Polsek Kota)"], "conclusion": "Ditindaklanjuti Polsek."})
        # The camera records on while the case closes: the minutes list what was sealed by then. A
        # segment is sealed a moment after its end (the cut waits for the next keyframe), so those
        # ending 2 s before the closure was asked for must all be in them.
        covered = [s for s in await segments("gate-north", start, end)
                   if _at(s["end"]) <= closing - timedelta(seconds=2)]
        pdf = await call(client, "GET", f"/api/v1/cases/{cid}/berita-acara.pdf", t["sari"], 200)
        signature = await call(client, "GET", f"/api/v1/cases/{cid}/berita-acara.sig", t["sari"], 200)
        printed = (await pdf_text(pdf, tmp_path, "minutes")).replace("\n", " ")
        assert closed["number"] in printed and "Pencurian sepeda motor" in printed and "Polsek Kota" in printed
        missing = [s["sha256"] for s in covered if s["sha256"] not in printed.replace(" ", "")]
        assert len(covered) >= 5 and not missing, missing

        pdf_path, sig_path = tmp_path / "ba.pdf", tmp_path / "ba.sig"
        pdf_path.write_bytes(pdf)
        sig_path.write_bytes(signature)
        public = settings.data_dir / "keys" / "berita-acara.pub.pem"

        def verify(path: Path) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "gateway", "verify-berita-acara", str(path), "--signature", str(sig_path),
                 "--public-key", str(public)],
                capture_output=True, text=True, timeout=60, cwd=tmp_path,
                env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)})

        ok = await asyncio.to_thread(verify, pdf_path)
        assert ok.returncode == 0, ok.stderr + ok.stdout
        tampered = bytearray(pdf)
        tampered[len(tampered) // 2] ^= 0x01
        bad_path = tmp_path / "ba-tampered.pdf"
        bad_path.write_bytes(bytes(tampered))
        bad = await asyncio.to_thread(verify, bad_path)
        assert bad.returncode == 1, bad.stdout + bad.stderr
