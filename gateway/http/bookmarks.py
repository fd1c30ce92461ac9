"""Bookmarks over HTTP: place one (a moment or a range of a camera's recordings, with a note) and
list them. Decided by the policy (R19: place_bookmark, read_bookmarks) on the bookmark's camera;
there is no route that edits or deletes one."""

from __future__ import annotations

from aiohttp import web

from core.errors import BadRequest, NotFound
from evidence.bookmarks import bookmark_view
from gateway.http.appkeys import SERVICES
from gateway.http.body import read_json
from gateway.http.guard import authorize, decision_for
from gateway.http.params import query_time, rfc3339
from policy.audit.records import Actor
from policy.decision import Action
from recorder.models import Bookmark

routes = web.RouteTableDef()
MAX_BODY = 16 * 1024


@routes.post("/api/v1/bookmarks")
async def place_bookmark(request: web.Request) -> web.Response:
    """Mark `camera`'s recordings at `start` (to `end`, if given) with a `note`."""
    body = await read_json(request, MAX_BODY)
    camera_id = body.get("camera")
    if not isinstance(camera_id, str) or not camera_id:
        raise BadRequest("camera is required")
    start = rfc3339(body.get("start"), "start")
    end = rfc3339(body.get("end"), "end") if body.get("end") is not None else None
    note = body.get("note")
    if not isinstance(note, str):
        raise BadRequest("note is required")
    camera = request.app[SERVICES].cameras.get(camera_id)
    if camera is None:
        raise NotFound(f"no camera {camera_id!r}")
    # The bookmark's own entry (with its hash) is the log line of an allow.
    who, _ = await authorize(request, Action.PLACE_BOOKMARK, camera, start, end, log_allowed=False, hide_camera=True,
                             not_found=f"no camera {camera_id!r}")
    row = await request.app[SERVICES].bookmarks.place(Actor(who.username, who.role, request.remote), camera.id,
                                                      start, end, note)
    return web.json_response(bookmark_view(row), status=201)


@routes.get("/api/v1/bookmarks")
async def list_bookmarks(request: web.Request) -> web.Response:
    """Bookmarks touching [start, end) (either may be left out), of one camera or every camera the
    caller may read bookmarks of."""
    services = request.app[SERVICES]
    camera_id = request.query.get("camera") or None
    start, end = query_time(request, "start", required=False), query_time(request, "end", required=False)
    if start is not None and end is not None and end <= start:
        raise BadRequest("end must be after start")
    if camera_id is not None:
        camera = services.cameras.get(camera_id)
        who, _ = await authorize(request, Action.READ_BOOKMARKS, camera or camera_id, log_allowed=False,
                                 hide_camera=True, not_found=f"no camera {camera_id!r}")
    else:
        who, _ = await authorize(request, Action.READ_BOOKMARKS, log_allowed=False)
    rows = await services.bookmarks.marking(start, end, camera_id)

    def visible(row: Bookmark) -> bool:
        # A camera no longer configured is in no group: roles that see "*" see its bookmarks.
        return decision_for(request, who, Action.READ_BOOKMARKS, services.cameras.get(row.camera_id) or row.camera_id).allowed

    return web.json_response({"bookmarks": [bookmark_view(r) for r in rows if visible(r)]})
