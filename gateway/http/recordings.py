"""Recording routes: the index of a camera's segments and gaps, and evidence holds.

Holds are decided by the policy (read_holds, place_hold, release_hold: access.holds), each on the
hold's camera; a refusal is logged by guard.authorize like every other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from core.errors import BadRequest, NotFound
from gateway.http.auth import signed_in
from gateway.http.body import read_json
from gateway.http.appkeys import SERVICES
from gateway.http.params import query_stream, rfc3339
from gateway.http.views import iso
from gateway.http.guard import authorize, decision_for
from policy.decision import Action
from policy.identity.users import Principal
from recorder.models import Hold
from streams.camera import Camera

routes = web.RouteTableDef()

MAX_BODY = 16 * 1024
# One request covers at most this span of index rows (a week of 60 s segments is 10,080).
MAX_SPAN_DAYS = 31


async def _camera(
    request: web.Request, camera_id: str | None, action: Action, start: datetime | None = None,
    end: datetime | None = None,
) -> tuple[Principal, Camera]:
    """The caller and the camera, if the policy lets the caller do `action` on it; a camera it may
    not see answers 404 like one that does not exist (the refusal is logged)."""
    if not camera_id:
        raise BadRequest("camera is required")
    camera = request.app[SERVICES].cameras.get(camera_id)
    if camera is None:
        raise NotFound(f"no camera {camera_id!r}")
    who, _ = await authorize(request, action, camera, start, end, log_allowed=False, hide_camera=True,
                             not_found=f"no camera {camera_id!r}")
    return who, camera


def _range(start: datetime, end: datetime) -> None:
    if end <= start:
        raise BadRequest("end must be after start")
    if (end - start).days > MAX_SPAN_DAYS:
        raise BadRequest(f"ask for at most {MAX_SPAN_DAYS} days at a time")


@routes.get("/api/v1/recordings")
async def list_recordings(request: web.Request) -> web.Response:
    """Sealed segments and gaps of one of a camera's streams (`stream`, default the recorded one)
    between start and end."""
    _, camera = await _camera(request, request.query.get("camera"), Action.VIEW_CAMERA)
    start, end = rfc3339(request.query.get("start"), "start"), rfc3339(request.query.get("end"), "end")
    _range(start, end)
    stream = query_stream(request, camera.config.listed_stream)
    await authorize(request, Action.LIST_RECORDINGS, camera, start, end)
    index = request.app[SERVICES].recorder.index
    segments = await index.segments(camera.id, start, end, stream)
    gaps = await index.gaps(camera.id, start, end, stream)
    return web.json_response({
        "camera": camera.id,
        "stream": stream,
        "start": iso(start),
        "end": iso(end),
        "segments": [
            {"start": iso(s.start), "end": iso(s.end), "bytes": s.bytes, "sha256": s.sha256,
             "prev_sha256": s.prev_sha256, "status": s.status, "codec": s.codec, "width": s.width,
             "height": s.height, "audio_codec": s.audio_codec, "audio_source_codec": s.audio_source_codec,
             "drift_ms": s.drift_ms}
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
    camera_id = request.query.get("camera")
    if camera_id is None:
        who, _ = await authorize(request, Action.READ_HOLDS, log_allowed=False)
    else:
        who, _ = await _camera(request, camera_id, Action.READ_HOLDS)
    active_raw = request.query.get("active")
    if active_raw not in (None, "true", "false"):
        raise BadRequest("active must be true or false")
    active = None if active_raw is None else active_raw == "true"
    holds = await request.app[SERVICES].recorder.holds.list(camera_id, active)
    cameras = request.app[SERVICES].cameras

    def visible(hold: Hold) -> bool:
        # A camera no longer configured is in no group: roles that see "*" see its holds.
        camera = cameras.get(hold.camera_id) or hold.camera_id
        return decision_for(request, who, Action.READ_HOLDS, camera).allowed

    return web.json_response({"holds": [_hold(h) for h in holds if visible(h)]})


@routes.post("/api/v1/holds")
async def place_hold(request: web.Request) -> web.Response:
    """Place an evidence hold: retention keeps the camera's recordings in [start, end)."""
    body = await read_json(request, MAX_BODY)
    camera_id = body.get("camera") if isinstance(body.get("camera"), str) else None
    start, end = rfc3339(body.get("start"), "start"), rfc3339(body.get("end"), "end")
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise BadRequest("reason is required")
    who, camera = await _camera(request, camera_id, Action.PLACE_HOLD, start, end)
    hold = await request.app[SERVICES].recorder.holds.place(camera.id, start, end, reason, who.username)
    return web.json_response(_hold(hold), status=201)


@routes.post("/api/v1/holds/{hold_id}/release")
async def release_hold(request: web.Request) -> web.Response:
    """Release a hold (recorded with who and why); recordings then age out normally."""
    signed_in(request)
    raw = request.match_info["hold_id"]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:  # no row has such an id (nor a BIGINT)
        raise NotFound("no such hold")
    hold_id = int(raw)
    holds = request.app[SERVICES].recorder.holds
    held = await holds.get(hold_id)
    camera = None if held is None else request.app[SERVICES].cameras.get(held.camera_id) or held.camera_id
    # A hold on a camera the caller may not see answers like one that does not exist (which the
    # policy refuses for naming no camera: logged, 404).
    who, _ = await authorize(request, Action.RELEASE_HOLD, camera, log_allowed=False, hide_camera=True,
                             not_found=f"no hold {hold_id}")
    body = await read_json(request, MAX_BODY)
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise BadRequest("reason is required")
    hold = await holds.release(hold_id, who.username, reason)
    return web.json_response(_hold(hold))
