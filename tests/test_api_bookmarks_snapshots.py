"""Bookmarks and snapshots over HTTP on a real gateway recording a real GStreamer camera (the
`flash` mount: grey, one white frame every 2 s), on SQLite and PostgreSQL: bookmarks are immutable,
logged with their hash and carried by the handover; snapshots are taken live and from the
recording at the asked moment, decode with OpenCV at the camera's size, are logged with their
SHA-256, and attach to a case once."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from sqlalchemy import text

from core.config import CameraConfig
from core.db import make_engine
from recorder.reader import SegmentOpened
from streams.packet import MediaPacket
from tests.desk.deskutil import call, log_entries, pdf_text, people
from tests.fixtures_camera import CameraServer
from tests.gatewayutil import Client, make_settings, running_gateway, until

FAST = {"stall_timeout_s": 2.0, "read_timeout_s": 2.0, "open_timeout_s": 3.0,
        "backoff": {"initial_s": 0.5, "max_s": 1.0, "jitter": 0.1}}
WIDTH, HEIGHT = 320, 180


def z(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def when(raw: str) -> datetime:
    return datetime.fromisoformat(raw.replace("Z", "+00:00"))


def brightness(jpeg: bytes) -> tuple[float, tuple[int, int]]:
    """Mean grey level of a JPEG decoded by OpenCV, and its (width, height)."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None, "the JPEG does not decode"
    return float(image.mean()), (image.shape[1], image.shape[0])


async def recorded_frames(client: Client, start: datetime, end: datetime) -> list[tuple[float, float, bool]]:
    """(wall-clock time, mean luma, keyframe) of every recorded frame of camera gate in [start, end),
    decoded here with PyAV, independently of the snapshot code."""
    services = client.gateway.services
    assert services is not None
    packets: list[MediaPacket] = []
    info = None
    async for item in services.recorder.reader.read("gate", start, end):
        if isinstance(item, SegmentOpened):
            info = info or next(s for s in item.streams if s.kind == "video")
        elif isinstance(item, MediaPacket) and info is not None and item.stream == info.index:
            packets.append(item)
    assert info is not None and packets

    def decode() -> list[tuple[float, float, bool]]:
        ctx: Any = av.CodecContext.create(info.codec, "r")
        if info.extradata:
            ctx.extradata = info.extradata
        stamps = {p.pts: (p.wallclock, p.is_keyframe) for p in packets}
        out = []
        for p in packets:
            pkt = av.Packet(p.data)
            pkt.pts, pkt.dts = p.pts, p.dts
            for frame in ctx.decode(pkt):
                wall, key = stamps[frame.pts]
                out.append((wall, float(frame.to_ndarray(format="gray").mean()), key))
        return out

    return await asyncio.to_thread(decode)


@pytest.mark.timeout(240)
async def test_bookmarks_and_snapshots(tmp_path: Path, db_url: str) -> None:
    server = CameraServer({"flash": f"flash+{WIDTH}x{HEIGHT}"})
    server.start()
    cams = [CameraConfig(id="gate", name="Gate", source=server.url("flash"), groups=["gates"], **FAST),
            CameraConfig(id="lobby", source="rtsp://127.0.0.1:9/x", enabled=False, groups=["indoor"])]
    settings = make_settings(tmp_path, db_url, cams, recording={"segment_s": 2, "min_free_bytes": 0},
                             access={"visibility": {"viewer": ["*"], "operator": ["*"], "supervisor": ["*"],
                                                    "admin": ["*"], "auditor": ["*"]},
                                     "bookmarks": {"read_roles": ["operator", "supervisor", "admin", "auditor"]}})
    try:
        async with running_gateway(settings) as client:
            t = await people(client, ana="operator", sari="supervisor", vera="viewer")
            admin = await client.sign_in("admin", client.admin_password())
            began = datetime.now(UTC) - timedelta(seconds=5)

            # -- bookmarks ------------------------------------------------------------------
            await call(client, "POST", "/api/v1/shifts", t["ana"], 201, json={})
            moment = datetime.now(UTC) - timedelta(seconds=3)
            body = {"camera": "gate", "start": z(moment), "note": "white car at the barrier"}
            await call(client, "POST", "/api/v1/bookmarks", t["vera"], 403, json=body)
            await call(client, "POST", "/api/v1/bookmarks", t["ana"], 400, json={**body, "note": "  "})
            await call(client, "POST", "/api/v1/bookmarks", t["ana"], 400,
                       json={**body, "end": z(moment - timedelta(seconds=1))})
            await call(client, "POST", "/api/v1/bookmarks", t["ana"], 404, json={**body, "camera": "nope"})
            mark = await call(client, "POST", "/api/v1/bookmarks", t["ana"], 201, json=body)
            ranged = await call(client, "POST", "/api/v1/bookmarks", t["sari"], 201,
                                json={**body, "end": z(moment + timedelta(seconds=30)), "note": "the car leaves"})
            assert mark["author"] == "ana" and mark["end"] is None and ranged["end"] is not None
            listed = await call(client, "GET", f"/api/v1/bookmarks?camera=gate&start={z(moment - timedelta(minutes=1))}"
                                f"&end={z(moment + timedelta(minutes=1))}", t["sari"], 200)
            assert [b["id"] for b in listed["bookmarks"]] == [mark["id"], ranged["id"]]
            later = await call(client, "GET", f"/api/v1/bookmarks?start={z(moment + timedelta(seconds=10))}",
                               t["sari"], 200)
            assert [b["id"] for b in later["bookmarks"]] == [ranged["id"]]  # the range still runs then
            await call(client, "GET", "/api/v1/bookmarks", t["vera"], 403)
            # Logged with the hash of the canonical record the row keeps.
            placed = {e["payload"]["details"]["id"]: e for e in await log_entries(client, admin, "bookmark_placed")}
            entry = placed[mark["id"]]["payload"]
            assert entry["actor"] == "ana" and entry["details"]["sha256"] == mark["sha256"]
            engine = make_engine(db_url)
            try:
                async with engine.connect() as conn:
                    content = (await conn.execute(text("SELECT content FROM bookmarks WHERE id = :id"),
                                                  {"id": mark["id"]})).scalar_one()
                assert hashlib.sha256(content.encode()).hexdigest() == mark["sha256"]
                assert json.loads(content)["note"] == "white car at the barrier"
                # Immutable: the database refuses a change and a deletion.
                for sql in ("UPDATE bookmarks SET note = 'nothing' WHERE id = :id", "DELETE FROM bookmarks WHERE id = :id"):
                    with pytest.raises(Exception, match="immutable"):
                        async with engine.begin() as conn:
                            await conn.execute(text(sql), {"id": mark["id"]})
            finally:
                await engine.dispose()
            # No route changes one.
            await call(client, "DELETE", f"/api/v1/bookmarks/{mark['id']}", t["sari"], 404)
            # The refusal of the viewer is a decision entry.
            denied = await log_entries(client, admin, "decision")
            assert any(e["payload"]["actor"] == "vera" and e["payload"]["details"]["action"] == "place_bookmark"
                       and e["payload"]["outcome"] == "deny" for e in denied)
            # The handover of ana's shift carries the bookmarks made in it.
            draft = await call(client, "GET", "/api/v1/handovers/draft", t["ana"], 200)
            assert [(b["id"], b["sha256"]) for b in draft["content"]["bookmarks"]] == [
                (mark["id"], mark["sha256"]), (ranged["id"], ranged["sha256"])]
            # ... and so does the filed handover and its printed report.
            filed = await call(client, "POST", "/api/v1/handovers", t["ana"], 201, json={})
            assert [b["id"] for b in filed["content"]["bookmarks"]] == [mark["id"], ranged["id"]]
            printed = await pdf_text(await call(client, "GET", f"/api/v1/handovers/{filed['id']}/pdf?lang=en", t["ana"],
                                                200), tmp_path)
            assert "Bookmarks made during the shift" in printed and "white car at the barrier" in printed, printed

            # -- snapshots: live -------------------------------------------------------------
            async def live() -> dict[str, Any] | None:
                async with client.http.post(client.url("/api/v1/cameras/gate/snapshots"),
                                            headers={"Authorization": f"Bearer {t['vera']}"}) as resp:
                    return await resp.json() if resp.status == 201 else None

            shot = await until(live, 30, "a live snapshot")
            assert shot["source"] == "live" and shot["taken_by"] == "vera"
            assert abs((when(shot["at"]) - datetime.now(UTC)).total_seconds()) < 5
            jpeg = await call(client, "GET", f"/api/v1/snapshots/{shot['id']}", t["vera"], 200)
            assert hashlib.sha256(jpeg).hexdigest() == shot["sha256"] and len(jpeg) == shot["bytes"]
            level, size = brightness(jpeg)
            assert size == (WIDTH, HEIGHT) and level > 60  # grey or white, never a broken picture
            taken = {e["payload"]["details"]["id"]: e["payload"] for e in await log_entries(client, admin, "snapshot_taken")}
            assert taken[shot["id"]]["details"]["sha256"] == shot["sha256"] and taken[shot["id"]]["camera"] == "gate"
            viewed = await log_entries(client, admin, "snapshot_viewed")
            assert [e["payload"]["details"]["sha256"] for e in viewed] == [shot["sha256"]]

            # -- snapshots: from the recording at the asked moment --------------------------
            async def recorded() -> list[dict[str, Any]] | None:
                body = await client.get_json(f"/api/v1/recordings?camera=gate&start={z(began)}"
                                             f"&end={z(began + timedelta(hours=1))}", admin)
                return body["segments"] if len(body["segments"]) >= 4 else None

            segments = await until(recorded, 60, "four sealed segments")
            first, last = when(segments[1]["start"]), when(segments[-1]["end"])
            frames = await recorded_frames(client, first, last)
            whites = [(w, key) for w, level, key in frames if level > 200]
            assert whites, "the flash camera's white frames are in the recording"
            white, white_is_key = next((w, k) for w, k in whites if first.timestamp() + 0.5 < w < last.timestamp() - 1)
            white_at = datetime.fromtimestamp(white, UTC)
            # The white frame itself (asked a few ms after its stamp: it is shown for 40 ms).
            got = await call(client, "POST", "/api/v1/cameras/gate/snapshots", t["ana"], 201,
                             json={"at": z(white_at + timedelta(milliseconds=10))})
            assert got["source"] == "recording" and abs((when(got["at"]) - white_at).total_seconds()) < 0.001
            level, size = brightness(await call(client, "GET", f"/api/v1/snapshots/{got['id']}", t["ana"], 200))
            assert size == (WIDTH, HEIGHT) and level > 200, level
            # Half a second later the picture is grey: decoded forward from the keyframe, not the keyframe.
            grey_at = white_at + timedelta(milliseconds=500)
            got_grey = await call(client, "POST", "/api/v1/cameras/gate/snapshots", t["ana"], 201,
                                  json={"at": z(grey_at)})
            assert 0 <= (grey_at - when(got_grey["at"])).total_seconds() < 0.05
            level, _ = brightness(await call(client, "GET", f"/api/v1/snapshots/{got_grey['id']}", t["ana"], 200))
            assert level < 150, level
            print(f"white frame at {white_at} keyframe={white_is_key}; grey {level:.0f}")
            # A moment not recorded is 404; a viewer may not replay, so may not take a recorded one.
            await call(client, "POST", "/api/v1/cameras/gate/snapshots", t["ana"], 404,
                       json={"at": z(began - timedelta(hours=3))})
            await call(client, "POST", "/api/v1/cameras/gate/snapshots", t["vera"], 403, json={"at": z(white_at)})
            await call(client, "GET", f"/api/v1/snapshots/{got['id']}", t["vera"], 403)
            listed_shots = await call(client, "GET", "/api/v1/snapshots?camera=gate", t["vera"], 200)
            assert [s["id"] for s in listed_shots["snapshots"]] == [shot["id"]]  # the recorded ones are not hers

            # -- attach to a case --------------------------------------------------------------
            case = await call(client, "POST", "/api/v1/cases", t["ana"], 201,
                              json={"kind": "incident", "title": "Car at the barrier", "cameras": ["gate"]})
            await call(client, "POST", f"/api/v1/cases/{case['id']}/snapshots", t["vera"], 403,
                       json={"snapshot_id": got["id"]})
            attached = await call(client, "POST", f"/api/v1/cases/{case['id']}/snapshots", t["ana"], 201,
                                  json={"snapshot_id": got["id"]})
            assert attached["case_id"] == case["id"]
            await call(client, "POST", f"/api/v1/cases/{case['id']}/snapshots", t["ana"], 409,
                       json={"snapshot_id": got["id"]})
            with_case = await call(client, "POST", "/api/v1/cameras/gate/snapshots", t["ana"], 201,
                                   json={"case_id": case["id"]})
            assert with_case["case_id"] == case["id"] and with_case["source"] == "live"
            read = await call(client, "GET", f"/api/v1/cases/{case['id']}", t["ana"], 200)
            in_timeline = [s for e in read["timeline"] if e["kind"] == "snapshot_taken"
                           for s in e["content"]["snapshots"] if "snapshot_id" in s]
            assert [(s["snapshot_id"], s["sha256"]) for s in in_timeline] == [
                (got["id"], got["sha256"]), (with_case["id"], with_case["sha256"])]
            of_case = await call(client, "GET", f"/api/v1/snapshots?case={case['id']}", t["ana"], 200)
            assert {s["id"] for s in of_case["snapshots"]} == {got["id"], with_case["id"]}
    finally:
        server.stop()
