"""GET /api/v1/recordings and /api/v1/holds through a real gateway and its recorder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.config import CameraConfig
from recorder.segment import SealedSegment
from tests.gatewayutil import make_settings, running_gateway

# Recent: the gateway's own retention runs meanwhile and would (rightly) delete old ones.
T0 = (datetime.now(UTC) - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)


def z(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _seg(n: int, prev: str | None) -> SealedSegment:
    start = T0 + timedelta(seconds=60 * n)
    return SealedSegment(
        camera_id="gate", path=f"gate/x/{n}.mp4", start=start, end=start + timedelta(seconds=60), bytes=1000 + n,
        sha256=f"{n:064x}", prev_sha256=prev, status="sealed", codec="h264", width=640, height=360,
        audio_codec=None, drift_ms=1.5, timestamps="{}",
    )


async def test_recordings_and_holds_routes(tmp_path: Path, db_url: str) -> None:
    cams = [CameraConfig(id="gate", source="rtsp://127.0.0.1:1/none", enabled=False)]
    settings = make_settings(tmp_path, db_url, cams)
    async with running_gateway(settings) as client:
        services = client.gateway.services
        assert services is not None
        recorder = services.recorder
        assert recorder is not None
        prev = None
        for n in range(3):
            seg = _seg(n, prev)
            await recorder.index.add(seg)
            prev = seg.sha256
        gap = await recorder.index.open_gap("gate", T0 + timedelta(minutes=3), "camera stopped")
        await recorder.index.close_gap(gap, T0 + timedelta(minutes=4))
        for name, role in (("op", "operator"), ("sup", "supervisor"), ("view", "viewer")):
            await services.users.add(name, role, "password-" + name * 4)
        op = await client.sign_in("op", "password-" + "op" * 4)
        sup = await client.sign_in("sup", "password-" + "sup" * 4)
        view = await client.sign_in("view", "password-" + "view" * 4)

        q = f"/api/v1/recordings?camera=gate&start={z(T0 + timedelta(seconds=30))}&end={z(T0 + timedelta(hours=1))}"
        body = await client.get_json(q, op)
        assert [s["sha256"] for s in body["segments"]] == [f"{n:064x}" for n in range(3)]
        assert body["segments"][1]["prev_sha256"] == f"{0:064x}"
        assert body["gaps"] == [{"start": z(T0 + timedelta(minutes=3)), "end": z(T0 + timedelta(minutes=4)),
                                 "reason": "camera stopped"}]
        await client.get_json(q, view, status=403)
        await client.get_json(q.replace("camera=gate", "camera=nope"), op, status=404)
        await client.get_json("/api/v1/recordings?camera=gate&start=2026-03-01T08:00:00", op, status=400)

        hold_body = {"camera": "gate", "start": z(T0), "end": z(T0 + timedelta(minutes=2)), "reason": "incident 17"}
        async with client.http.post(client.url("/api/v1/holds"), json=hold_body,
                                    headers={"Authorization": f"Bearer {op}"}) as resp:
            assert resp.status == 403
        async with client.http.post(client.url("/api/v1/holds"), json=hold_body,
                                    headers={"Authorization": f"Bearer {sup}"}) as resp:
            assert resp.status == 201
            hold: dict[str, Any] = await resp.json()
        assert hold["owner"] == "sup" and hold["released_at"] is None
        listed = await client.get_json("/api/v1/holds?active=true", sup)
        assert [h["id"] for h in listed["holds"]] == [hold["id"]]
        release = client.url(f"/api/v1/holds/{hold['id']}/release")
        async with client.http.post(release, json={"reason": "closed"},
                                    headers={"Authorization": f"Bearer {sup}"}) as resp:
            assert resp.status == 200
            released = await resp.json()
        assert released["released_by"] == "sup" and released["release_reason"] == "closed"
        async with client.http.post(release, json={"reason": "again"},
                                    headers={"Authorization": f"Bearer {sup}"}) as resp:
            assert resp.status == 409
        assert (await client.get_json("/api/v1/holds?active=true", sup))["holds"] == []
