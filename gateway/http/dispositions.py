"""The disposition workflow over HTTP: playback requests (with the scanned letter), verdicts, tokens, revocation.

Routes only parse and shape; every permission is decided by policy (DispositionService asks
policy.decision.decide), so no route decides on its own.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from core.errors import BadRequest, NotFound, Unauthorized
from gateway.http.auth import principal
from gateway.http.body import FormLimits, read_form, read_json
from gateway.http.appkeys import SERVICES
from gateway.http.params import parse_int, query_limit, rfc3339
from gateway.http.views import iso
from policy.dispositions.models import RequestStatus
from policy.dispositions.forms import DispositionInfo, RequestForm, RequestInfo
from policy.audit.signingkey import public_key_pem
from policy.identity.users import Principal

routes = web.RouteTableDef()

FIELD_MAX_BYTES = 4096  # one text field of the request form
MULTIPART_OVERHEAD = 64 * 1024  # the text fields and part headers around the letter
# `cameras` may come once, comma-separated, or once per camera (check_form takes 64 at most).
MAX_CAMERA_PARTS = 64
JSON_MAX_BYTES = 16 * 1024
TEXT_FIELDS = ("party_name", "party_organisation", "purpose", "letter_number", "letter_date", "cameras",
               "start", "end", "max_views", "valid_days", "copies")
MAX_PARTS = len(TEXT_FIELDS) - 1 + MAX_CAMERA_PARTS + 1  # each field once, cameras repeated, the letter


def _who(request: web.Request) -> Principal:
    who = principal(request)
    if who is None:
        raise Unauthorized("this route needs a bearer token")
    return who


def _client(request: web.Request) -> str:
    return request.remote or ""


def _int(fields: dict[str, str], name: str) -> int | None:
    raw = fields.get(name, "").strip()
    if not raw:
        return None
    return parse_int(raw, name)


def _form_limits(letter_limit: int) -> FormLimits:
    return FormLimits(
        max_bytes=letter_limit + MULTIPART_OVERHEAD, max_parts=MAX_PARTS, field_bytes=FIELD_MAX_BYTES,
        file_fields={"letter": letter_limit}, text_fields=TEXT_FIELDS, repeatable={"cameras": MAX_CAMERA_PARTS},
    )


async def _read_form(request: web.Request, letter_limit: int) -> tuple[dict[str, str], bytes]:
    form = await read_form(request, _form_limits(letter_limit))
    letter = form.files.get("letter")
    if letter is None:
        raise BadRequest("the scanned letter (form part 'letter') is missing")
    fields = {name: ",".join(values) for name, values in form.fields.items()}
    return fields, letter


def _form(fields: dict[str, str]) -> RequestForm:
    try:
        letter_date = date.fromisoformat(fields.get("letter_date", ""))
    except ValueError as exc:
        raise BadRequest("letter_date must be YYYY-MM-DD") from exc
    cameras = tuple(c.strip() for c in fields.get("cameras", "").split(",") if c.strip())
    return RequestForm(
        party_name=fields.get("party_name", ""), party_organisation=fields.get("party_organisation", ""),
        purpose=fields.get("purpose", ""), letter_number=fields.get("letter_number", ""), letter_date=letter_date,
        cameras=cameras, start=rfc3339(fields.get("start"), "start"), end=rfc3339(fields.get("end"), "end"),
        max_views=_int(fields, "max_views"), valid_days=_int(fields, "valid_days"),
        copies=_int(fields, "copies") or 0,
    )


def request_json(info: RequestInfo) -> dict[str, Any]:
    """A playback request as JSON."""
    return {
        "id": info.id, "status": info.status, "requester": info.requester, "party_name": info.party_name,
        "party_organisation": info.party_organisation, "purpose": info.purpose,
        "letter": {"number": info.letter_number, "date": info.letter_date.isoformat(), "sha256": info.letter_sha256,
                   "content_type": info.letter_content_type, "size": info.letter_size},
        "cameras": list(info.cameras), "start": iso(info.start), "end": iso(info.end),
        "max_views": info.max_views, "valid_days": info.valid_days, "copies": info.copies,
        "created_at": iso(info.created_at), "updated_at": iso(info.updated_at),
        "approvals_required": info.approvals_required,
        "verdicts": [{"by": v.approver, "verdict": v.verdict, "note": v.note, "at": iso(v.at),
                      "copies_approved": v.copies_approved} for v in info.approvals],
        "disposition_id": info.token_id,
    }


def disposition_json(info: DispositionInfo) -> dict[str, Any]:
    """A disposition as JSON; `token` only when the caller may hand it out."""
    c = info.claims
    body: dict[str, Any] = {
        "id": c.token_id, "request_id": c.request_id, "grantee": c.grantee, "organisation": c.organisation,
        "cameras": list(c.cameras), "start": iso(c.start), "end": iso(c.end), "purpose": c.purpose,
        "letter_sha256": c.letter_sha256, "approvers": list(c.approvers), "issued_at": iso(c.issued_at),
        "not_before": iso(c.not_before), "expires_at": iso(c.expires), "max_views": c.max_views,
        "views_used": info.views_used, "views_per": info.views_per, "camera_views": dict(info.camera_views),
        "copies": c.copies, "copies_used": info.copies_used,
        "last_view_at": iso(info.last_view_at), "revoked_at": iso(info.revoked_at),
        "revoked_by": info.revoked_by, "revoke_reason": info.revoke_reason, "key_id": info.key_id,
    }
    if info.token is not None:
        body["token"] = info.token
    return body


@routes.post("/api/v1/playback-requests")
async def file_request(request: web.Request) -> web.Response:
    """File a request for an outside party: form fields plus the scanned letter (PDF, JPEG, PNG)."""
    who = _who(request)
    service = request.app[SERVICES].dispositions
    # The role is decided before a byte of the letter is read: a refused caller uploads nothing.
    await service.admit_filer(who, _client(request))
    fields, letter = await _read_form(request, service.letter_max_bytes)
    info = await service.file_request(who, _form(fields), letter, _client(request))
    return web.json_response(request_json(info), status=201,
                             headers={"Location": f"/api/v1/playback-requests/{info.id}"})


@routes.get("/api/v1/playback-requests")
async def list_requests(request: web.Request) -> web.Response:
    """Requests, newest first; ?status=pending|approved|refused."""
    who = _who(request)
    raw = request.query.get("status")
    try:
        status = RequestStatus(raw) if raw else None
    except ValueError as exc:
        raise BadRequest("status must be pending, approved or refused") from exc
    infos = await request.app[SERVICES].dispositions.list_requests(who, _client(request), status, query_limit(request, 1000))
    return web.json_response({"requests": [request_json(i) for i in infos]})


@routes.get("/api/v1/playback-requests/{request_id}")
async def get_request(request: web.Request) -> web.Response:
    """One request with its verdicts."""
    info = await request.app[SERVICES].dispositions.get_request(_who(request), request.match_info["request_id"], _client(request))
    return web.json_response(request_json(info))


@routes.get("/api/v1/playback-requests/{request_id}/letter")
async def get_letter(request: web.Request) -> web.FileResponse:
    """The scanned letter, as stored (its SHA-256 in the ETag)."""
    path, content_type, sha256 = await request.app[SERVICES].dispositions.letter(
        _who(request), request.match_info["request_id"], _client(request)
    )
    if not path.exists():
        raise NotFound("the letter's file is missing from storage")
    return web.FileResponse(path, headers={
        "Content-Type": content_type, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="letter-{sha256[:12]}{path.suffix}"',
        "Digest": f"sha-256={sha256}",
    })


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_length in (None, 0) and request.content_type != "application/json":
        return {}
    return await read_json(request, JSON_MAX_BYTES)


async def _note(request: web.Request, key: str) -> str:
    return _text(await _body(request), key)


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a string")
    return value


@routes.post("/api/v1/playback-requests/{request_id}/approvals")
async def approve(request: web.Request) -> web.Response:
    """Approve ({"note", "copies": true|false} optional; `copies` also approves the copies the request
    asks for); the last approval needed returns the disposition with its token."""
    who = _who(request)
    sent = await _body(request)
    note, copies = _text(sent, "note"), sent.get("copies", False)
    if not isinstance(copies, bool):
        raise BadRequest("copies must be true or false")
    service = request.app[SERVICES].dispositions
    info, token = await service.approve(who, request.match_info["request_id"], note, _client(request), copies)
    body: dict[str, Any] = {"request": request_json(info)}
    if token is not None and info.token_id is not None:
        body["disposition"] = disposition_json(await service.get_disposition(who, info.token_id, _client(request)))
    return web.json_response(body, status=201)


@routes.post("/api/v1/playback-requests/{request_id}/refusals")
async def refuse(request: web.Request) -> web.Response:
    """Refuse with {"note"}: the request ends."""
    who = _who(request)
    note = await _note(request, "note")
    info = await request.app[SERVICES].dispositions.refuse(who, request.match_info["request_id"], note, _client(request))
    return web.json_response({"request": request_json(info)}, status=201)


@routes.get("/api/v1/dispositions")
async def list_dispositions(request: web.Request) -> web.Response:
    """Issued dispositions, newest first (without tokens)."""
    infos = await request.app[SERVICES].dispositions.list_dispositions(_who(request), _client(request), query_limit(request, 1000))
    return web.json_response({"dispositions": [disposition_json(i) for i in infos]})


@routes.get("/api/v1/dispositions/public-key")
async def public_key(request: web.Request) -> web.Response:
    """The Ed25519 public key (PEM) that verifies every disposition token offline."""
    _who(request)
    return web.Response(text=public_key_pem(request.app[SERVICES].dispositions.public_key), content_type="application/x-pem-file")


@routes.post("/api/v1/dispositions/check")
async def check_token(request: web.Request) -> web.Response:
    """Would this token play this camera and range now? {"token","camera","start","end"}; uses no view."""
    who = _who(request)
    service = request.app[SERVICES].dispositions
    body = await read_json(request, JSON_MAX_BYTES)
    token, camera = body.get("token"), body.get("camera")
    if not isinstance(token, str) or not isinstance(camera, str):
        raise BadRequest('expected {"token": string, "camera": string, "start": time, "end": time}')
    fields = {k: v for k, v in body.items() if k in ("start", "end") and isinstance(v, str)}
    start, end = rfc3339(fields.get("start"), "start"), rfc3339(fields.get("end"), "end")
    got = await service.check(who, token, camera, start, end, _client(request))
    return web.json_response({
        "allowed": True, "id": got.claims.token_id, "views_used": got.views_used, "max_views": got.claims.max_views,
        "obligations": [{"kind": o.kind.value, "value": o.value} for o in got.decision.obligations],
    })


@routes.get("/api/v1/dispositions/{token_id}")
async def get_disposition(request: web.Request) -> web.Response:
    """One disposition; includes the token for approvers and the requester."""
    info = await request.app[SERVICES].dispositions.get_disposition(_who(request), request.match_info["token_id"], _client(request))
    return web.json_response(disposition_json(info))


@routes.post("/api/v1/dispositions/{token_id}/revocation")
async def revoke(request: web.Request) -> web.Response:
    """Revoke with {"reason"}: the next use of the token is refused."""
    who = _who(request)
    reason = await _note(request, "reason")
    info = await request.app[SERVICES].dispositions.revoke(who, request.match_info["token_id"], reason, _client(request))
    return web.json_response(disposition_json(info), status=201)
