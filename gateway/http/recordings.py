"""Recording routes: the index of a camera's segments and gaps, and evidence holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from core.errors import BadRequest, NotFound, Unavailable
from gateway.http.auth import require_role
from gateway.http.body import read_json
from gateway.http.appkeys import SERVICES
from gateway.http.params import rfc3339
from gateway.http.views import iso
from gateway.http.guard import authorize, decision_for
from policy.decision import Action
from policy.identity.users import Principal
from recorder.models import Hold
from recorder.service import Recorder

routes = web.RouteTableDef()

MAX_BODY = 16 * 1024
# One request covers at most this span of index rows (a week of 60 s segments is 10,080).
MAX_SPAN_DAYS = 31


def _recorder(request: web.Request) -> Recorder:
    recorder = request.app[SERVICES].recorder
    if recorder is None:
        raise Unavailable("recording is not running")
    return recorder


def _camera(request: web.Request, who: Principal, camera_id: str | None) -> str:
    """A camera the caller may view (else 404, like a camera that does not exist)."""
    if not camera_id:
        raise BadRequest("camera is required")
    camera = request.app[SERVICES].cameras.get(camera_id)
    if camera is None or not decision_for(request, who, Action.VIEW_CAMERA, camera).allowed:
        raise NotFound(f"no camera {camera_id!r}")
    return camera_id


def _range(start: datetime, end: datetime) -> None:
    if end <= start:
        raise BadRequest("end must be after start")
    if (end - start).days > MAX_SPAN_DAYS:
        raise BadRequest(f"ask for at most {MAX_SPAN_DAYS} days at a time")


@routes.get("/api/v1/recordings")
async def list_recordings(request: web.Request) -> web.Response:
    """Sealed segments and gaps of one camera between start and end."""
    who = require_role(request, "viewer")
    camera = _camera(request, who, request.query.get("camera"))
    start, end = rfc3339(request.query.get("start"), "start"), rfc3339(request.query.get("end"), "end")
    _range(start, end)
    await authorize(request, Action.LIST_RECORDINGS, request.app[SERVICES].cameras[camera], start, end)
    index = _recorder(request).index
    segments = await index.segments(camera, start, end)
    gaps = await index.gaps(camera, start, end)
    return web.json_response({
        "camera": camera,
        "start": iso(start),
        "end": iso(end),
        "segments": [
            {"start": iso(s.start), "end": iso(s.end), "bytes": s.bytes, "sha256": s.sha256,
             "prev_sha256": s.prev_sha256, "status": s.status, "codec": s.codec, "width": s.width,
             "height": s.height, "audio_codec": s.audio_codec, "drift_ms": s.drift_ms}
            for s in segments
        ],
        "gaps": [{"start": iso(g.start), "end": iso(g.end) if g.end else None, "reason": g.reason} for g in gaps],
    })


def _hold(hold: Hold) -> dict[str, Any]:
    return {
        "id": hold.id, "camera": hold.camera_id, "start": iso(hold.start), "end": iso(hold.end),
        "reason": hold.reason, "owner": hold.owner, "created_at": iso(hold.created_at),
        "released_at": iso(hold.released_at) if hold.released_at else None,
        "released_by": hold.released_by, "release_reason": hold.release_reason,
    }


@routes.get("/api/v1/holds")
async def list_holds(request: web.Request) -> web.Response:
    """Evidence holds, optionally of one camera and only active (or released) ones."""
    who = require_role(request, "supervisor")
    camera_id = request.query.get("camera")
    camera = _camera(request, who, camera_id) if camera_id else None
    active_raw = request.query.get("active")
    if active_raw not in (None, "true", "false"):
        raise BadRequest("active must be true or false")
    active = None if active_raw is None else active_raw == "true"
    holds = await _recorder(request).holds.list(camera, active)
    services = request.app[SERVICES]

    def visible(hold: Hold) -> bool:
        cam = services.cameras.get(hold.camera_id)
        return who.role == "admin" if cam is None else decision_for(request, who, Action.VIEW_CAMERA, cam).allowed

    return web.json_response({"holds": [_hold(h) for h in holds if visible(h)]})


@routes.post("/api/v1/holds")
async def place_hold(request: web.Request) -> web.Response:
    """Place an evidence hold: retention keeps the camera's recordings in [start, end)."""
    who = require_role(request, "supervisor")
    body = await read_json(request, MAX_BODY)
    camera = _camera(request, who, body.get("camera") if isinstance(body.get("camera"), str) else None)
    start, end = rfc3339(body.get("start"), "start"), rfc3339(body.get("end"), "end")
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise BadRequest("reason is required")
    hold = await _recorder(request).holds.place(camera, start, end, reason, who.username)
    return web.json_response(_hold(hold), status=201)


@routes.post("/api/v1/holds/{hold_id}/release")
async def release_hold(request: web.Request) -> web.Response:
    """Release a hold (recorded with who and why); recordings then age out normally."""
    who = require_role(request, "supervisor")
    try:
        hold_id = int(request.match_info["hold_id"])
    except ValueError as exc:
        raise NotFound("no such hold") from exc
    body = await read_json(request, MAX_BODY)
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise BadRequest("reason is required")
    hold = await _recorder(request).holds.release(hold_id, who.username, reason)
    return web.json_response(_hold(hold))
