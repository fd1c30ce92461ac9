"""The disposition workflow end to end through a running gateway, on both database backends."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import jwt

from core.config import CameraConfig
from policy.dispositions.workflow import DispositionService
from policy.dispositions.tokencli import verify_offline, verify_token_cli
from tests.gatewayutil import Client, call, make_settings, running_gateway

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(200)
CAMERAS = [
    CameraConfig(id="gate-north", source="rtsp://127.0.0.1:9/x", enabled=False, groups=["gates"]),
    CameraConfig(id="lobby", source="rtsp://127.0.0.1:9/y", enabled=False, groups=["indoor"]),
]
PASSWORD = "password-123"


async def wire(client: Client) -> DispositionService:
    """The workflow service the gateway built (gateway/app.py), logging to its access log."""
    services = client.gateway.services
    assert services is not None and services.dispositions is not None
    return services.dispositions


def form(**changes: Any) -> aiohttp.FormData:
    now = datetime.now(UTC)
    fields: dict[str, Any] = {
        "party_name": "Budi Santoso", "party_organisation": "Polres Kota", "purpose": "Theft at the north gate",
        "letter_number": "B/77/III/2026", "letter_date": "2026-03-09", "cameras": "gate-north,lobby",
        "start": (now - timedelta(hours=3)).isoformat(), "end": (now - timedelta(hours=2)).isoformat(),
        "max_views": "2", "letter": PNG,
    }
    fields.update(changes)
    data = aiohttp.FormData(default_to_multipart=True)
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, bytes):
            data.add_field(key, io.BytesIO(value), filename="letter.png", content_type="application/octet-stream")
        else:
            data.add_field(key, str(value))
    return data


async def test_request_approve_verify_revoke_end_to_end(tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path, db_url, CAMERAS, access={"disposition": {"letter_max_bytes": 4096}})
    async with running_gateway(settings) as client:
        service = await wire(client)
        users = client.gateway.services.users  # type: ignore[union-attr]
        for name, role in [("ops", "operator"), ("sup", "supervisor"), ("view", "viewer")]:
            await users.add(name, role, PASSWORD)
        ops, sup, view = [await client.sign_in(n, PASSWORD) for n in ("ops", "sup", "view")]

        # Filing: the right role, a sniffed letter within the cap, good fields.
        await call(client, "POST", "/api/v1/playback-requests", None, 401, data=form())
        await call(client, "POST", "/api/v1/playback-requests", view, 403, data=form())
        await call(client, "POST", "/api/v1/playback-requests", ops, 415, data=form(letter=b"GIF89a not allowed"))
        await call(client, "POST", "/api/v1/playback-requests", ops, 413, data=form(letter=PNG + bytes(5000)))
        await call(client, "POST", "/api/v1/playback-requests", ops, 400, data=form(letter=None))
        await call(client, "POST", "/api/v1/playback-requests", ops, 400, data=form(letter_date="9 March"))
        await call(client, "POST", "/api/v1/playback-requests", ops, 400, data=form(start="yesterday"))
        await call(client, "POST", "/api/v1/playback-requests", ops, 400, data=form(cameras="nowhere"))
        await call(client, "POST", "/api/v1/playback-requests", ops, 415, json={"party_name": "x"})
        filed = await call(client, "POST", "/api/v1/playback-requests", ops, 201, data=form())
        rid = filed["id"]
        assert filed["status"] == "pending" and filed["letter"]["content_type"] == "image/png"
        letter = await call(client, "GET", f"/api/v1/playback-requests/{rid}/letter", sup, 200)
        assert letter == PNG
        listed = await call(client, "GET", "/api/v1/playback-requests?status=pending", sup, 200)
        assert [r["id"] for r in listed["requests"]] == [rid]
        await call(client, "GET", "/api/v1/playback-requests", view, 403)
        await call(client, "GET", "/api/v1/playback-requests?status=nonsense", sup, 400)
        await call(client, "GET", "/api/v1/playback-requests/req_nope", sup, 404)

        # Verdicts: operators may not approve; the supervisor's approval issues the token.
        await call(client, "POST", f"/api/v1/playback-requests/{rid}/approvals", ops, 403, json={"note": "me"})
        await call(client, "POST", f"/api/v1/playback-requests/{rid}/approvals", sup, 400,
                   data=b"{", headers={"Content-Type": "application/json"})
        approved = await call(client, "POST", f"/api/v1/playback-requests/{rid}/approvals", sup, 201,
                              json={"note": "per letter B/77"})
        disposition = approved["disposition"]
        token, did = disposition["token"], disposition["id"]
        assert approved["request"]["status"] == "approved" and disposition["approvers"] == ["sup"]
        await call(client, "POST", f"/api/v1/playback-requests/{rid}/refusals", sup, 409, json={"note": "late"})

        # Offline verification needs nothing but the public key.
        pem = await call(client, "GET", "/api/v1/dispositions/public-key", ops, 200)
        key_file = tmp_path / "published.pub.pem"
        key_file.write_bytes(pem)
        claims, problem = verify_offline(token, key_file, datetime.now(UTC))
        assert problem is None and claims.token_id == did and claims.cameras == ("gate-north", "lobby")
        assert claims.letter_sha256 == filed["letter"]["sha256"]
        out = io.StringIO()
        assert verify_token_cli(token, key_file, out=out) == 0 and "VALID" in out.getvalue()
        assert verify_token_cli(token[:-3] + "AAA", key_file, out=io.StringIO()) == 1
        later = datetime.now(UTC) + timedelta(days=30)
        assert verify_token_cli(token, key_file, now=later, out=io.StringIO()) == 1

        # The requester can fetch the token again; a viewer cannot see dispositions at all.
        mine = await call(client, "GET", f"/api/v1/dispositions/{did}", ops, 200)
        assert mine["token"] == token
        await call(client, "GET", f"/api/v1/dispositions/{did}", view, 403)
        await call(client, "GET", "/api/v1/dispositions/dsp_nope", sup, 404)
        assert [d["id"] for d in (await call(client, "GET", "/api/v1/dispositions", sup, 200))["dispositions"]] == [did]

        check = {"token": token, "camera": "lobby", "start": claims.start.isoformat(), "end": claims.end.isoformat()}
        ok = await call(client, "POST", "/api/v1/dispositions/check", ops, 200, json=check)
        assert ok["allowed"] is True and {o["kind"] for o in ok["obligations"]} >= {"log", "max_rate", "watermark"}
        await call(client, "POST", "/api/v1/dispositions/check", ops, 403, json={**check, "camera": "elsewhere"})
        await call(client, "POST", "/api/v1/dispositions/check", ops, 400, json={**check, "start": "soon"})

        # Revocation: wrong role refused; then the very next check is refused.
        await call(client, "POST", f"/api/v1/dispositions/{did}/revocation", ops, 403, json={"reason": "x"})
        await call(client, "POST", f"/api/v1/dispositions/{did}/revocation", sup, 400, json={"reason": ""})
        revoked = await call(client, "POST", f"/api/v1/dispositions/{did}/revocation", sup, 201,
                             json={"reason": "letter withdrawn"})
        assert revoked["revoked_by"] == "sup"
        refused = await call(client, "POST", "/api/v1/dispositions/check", ops, 403, json=check)
        assert "revoked" in refused["detail"]
        # Offline checks cannot know about revocation: the signature stays good.
        assert verify_offline(token, key_file, datetime.now(UTC))[1] is None
        assert service.public_key is not None


async def test_copies_filed_approved_and_shown(tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path, db_url, CAMERAS, access={"disposition": {"approvals_required": 2}})
    async with running_gateway(settings) as client:
        service = await wire(client)
        users = client.gateway.services.users  # type: ignore[union-attr]
        for name, role in [("ops", "operator"), ("sup", "supervisor"), ("sup2", "supervisor")]:
            await users.add(name, role, PASSWORD)
        ops, sup, sup2 = [await client.sign_in(n, PASSWORD) for n in ("ops", "sup", "sup2")]

        for bad in ("6", "-1", "two"):
            body = await call(client, "POST", "/api/v1/playback-requests", ops, 400, data=form(copies=bad))
            assert "copies" in body["detail"]
        filed = await call(client, "POST", "/api/v1/playback-requests", ops, 201, data=form(copies="2"))
        rid = filed["id"]
        assert filed["copies"] == 2
        path = f"/api/v1/playback-requests/{rid}/approvals"
        await call(client, "POST", path, sup, 400, json={"copies": "yes"})
        first = await call(client, "POST", path, sup, 201, json={"note": "copies too", "copies": True})
        assert "disposition" not in first and first["request"]["verdicts"][0]["copies_approved"] is True
        done = await call(client, "POST", path, sup2, 201, json={"note": "and the copies", "copies": True})
        disposition = done["disposition"]
        assert [v["copies_approved"] for v in done["request"]["verdicts"]] == [True, True]
        assert (disposition["copies"], disposition["copies_used"]) == (2, 0)
        assert disposition["views_per"] == "camera"
        assert disposition["camera_views"] == {"gate-north": 0, "lobby": 0}
        token = disposition["token"]
        # The claim as any JWT library reads it.
        assert jwt.decode(token, options={"verify_signature": False})["copies"] == 2
        # The export jobs' entry point (POST /api/v1/exports is theirs) uses one copy.
        got = await service.redeem_copy(token, ["lobby"], None, None, "10.0.0.9")
        assert got.copies_used == 1
        shown = await call(client, "GET", f"/api/v1/dispositions/{disposition['id']}", ops, 200)
        assert shown["copies_used"] == 1 and shown["views_used"] == 0
        again = await call(client, "GET", f"/api/v1/playback-requests/{rid}", ops, 200)
        assert again["copies"] == 2 and again["disposition_id"] == disposition["id"]

        # Asked for no copies: approving "copies" approves nothing, and the token has no claim.
        plain = await call(client, "POST", "/api/v1/playback-requests", ops, 201, data=form())
        assert plain["copies"] == 0
        await call(client, "POST", f"/api/v1/playback-requests/{plain['id']}/approvals", sup, 201, json={"copies": True})
        replay = await call(client, "POST", f"/api/v1/playback-requests/{plain['id']}/approvals", sup2, 201)
        assert replay["request"]["verdicts"][0]["copies_approved"] is False
        assert replay["disposition"]["copies"] == 0
        assert "copies" not in jwt.decode(replay["disposition"]["token"], options={"verify_signature": False})
