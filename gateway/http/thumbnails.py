"""Keyframe thumbnails of a camera's recordings for the recordings page's strip (issue 16).

A thumbnail shows recorded footage, so it is decided exactly as replaying its window is
(`playback` on the camera and [start, end): the role's groups, max_age_h, dispositions required)
and each answered request is one `thumbnails` entry in the access log; a refusal is the usual
logged `decision` deny. The pictures come as data URIs in the JSON: the page's <img> cannot send
the bearer header, and its CSP allows `img-src data:`.
"""

from __future__ import annotations

import base64
from datetime import timedelta

from aiohttp import web

from core.errors import BadRequest, NotFound
from gateway.http.appkeys import SERVICES
from gateway.http.guard import authorize
from gateway.http.params import query_int, query_stream, rfc3339
from gateway.http.views import iso
from policy.audit.entries import AccessAction, AccessEvent
from policy.decision import Action
from recorder.thumbnails import MAX_COUNT

routes = web.RouteTableDef()

# A strip covers at most a day (the page's widest view).
MAX_SPAN = timedelta(days=1)


@routes.get("/api/v1/recordings/thumbnails")
async def thumbnails(request: web.Request) -> web.Response:
    """Up to `count` keyframe thumbnails of [start, end), one per evenly spaced instant a segment covers."""
    services = request.app[SERVICES]
    camera_id = request.query.get("camera")
    if not camera_id:
        raise BadRequest("camera is required")
    start, end = rfc3339(request.query.get("start"), "start"), rfc3339(request.query.get("end"), "end")
    if end <= start:
        raise BadRequest("end must be after start")
    if end - start > MAX_SPAN:
        raise BadRequest("thumbnails cover at most 24 h at a time")
    count = query_int(request, "count", None, 1, MAX_COUNT)
    if count is None:
        raise BadRequest(f"count is required (1 to {MAX_COUNT})")
    camera = services.cameras.get(camera_id)
    if camera is None:
        raise NotFound(f"no camera {camera_id!r}")
    stream = query_stream(request, camera.config.listed_stream)
    # A camera the caller may not see answers like one that does not exist; then the replay rule.
    await authorize(request, Action.VIEW_CAMERA, camera, log_allowed=False, hide_camera=True,
                    not_found=f"no camera {camera_id!r}")
    who, decision = await authorize(request, Action.PLAYBACK, camera, start, end, log_allowed=False)
    made = await services.recorder.thumbnails.make(camera.id, start, end, count, stream)
    await services.access_log.record(AccessEvent(
        AccessAction.THUMBNAILS, actor=who.username, role=who.role, client=request.remote, camera=camera.id,
        start=start, end=end, details={"count": count, "stream": stream, "thumbnails": len(made.thumbnails),
                                       "decoded": made.decoded, "skipped": len(made.skipped)},
    ))
    return web.json_response({
        "camera": camera.id,
        "stream": stream,
        "start": iso(start),
        "end": iso(end),
        # As a replay's player shows it over the picture (webrtc/playback.py), the page over each thumbnail.
        "watermark": decision.watermark,
        "thumbnails": [
            {"at": iso(t.at), "segment": t.segment_id,
             "jpeg": "data:image/jpeg;base64," + base64.b64encode(t.jpeg).decode("ascii")}
            for t in made.thumbnails
        ],
        "skipped": [{"segment": seg, "reason": why} for seg, why in made.skipped.items()],
    })
