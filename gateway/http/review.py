"""The replay desk's events (GET /api/v1/review/events): what Pantau knows about a span of some
cameras, merged in time order from each part's own reader (camera events, state history, gaps,
holds, alerts, cases).

Every camera named goes through the policy as listing its recordings does (Action.VIEW_CAMERA, then
Action.LIST_RECORDINGS, logged: a camera the caller may not see answers 404 like one that does not
exist, one it sees but may not replay 403). With no camera named, the cameras the caller may list are taken and the others
left out. Holds and cases are their own records with their own readers: they are listed only where
the caller may also read holds (Action.READ_HOLDS) or cases (Action.READ_CASES) of that camera.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from alerts.review import AlertReview
from camera_events.review import CameraEventReview
from cases.review import CaseReview
from core.errors import BadRequest, NotFound
from core.reviewing import FAMILIES, ReviewItem, ReviewWindow
from fleet.review import StateReview
from gateway.http.appkeys import SERVICES
from gateway.http.auth import signed_in
from gateway.http.guard import authorize, decision_for
from gateway.http.params import query_limit, rfc3339
from gateway.http.views import iso
from policy.decision import Action
from recorder.review import RecordingReview

routes = web.RouteTableDef()

MAX_LIMIT = 5000
DEFAULT_LIMIT = 1000
MAX_SPAN_DAYS = 31
MAX_Q = 200
# Each reader stops at this many items of a window; the answer says `truncated` when one did.
READER_CAP = 20_000

Reader = Callable[[ReviewWindow], Awaitable[list[ReviewItem]]]


def item_json(item: ReviewItem) -> dict[str, Any]:
    """The API shape of one event (the page builds against exactly these keys)."""
    return {"id": item.id, "kind": item.kind, "camera": item.camera, "start": iso(item.start),
            "end": iso(item.end) if item.end is not None else None, "title": item.title, "detail": item.detail}


def _kinds(request: web.Request) -> list[str]:
    kinds = [k.strip() for raw in request.query.getall("kind", []) for k in raw.split(",") if k.strip()]
    for kind in kinds:
        if kind.split(".")[0] not in FAMILIES:
            raise BadRequest(f"kind must start with one of {', '.join(FAMILIES)}")
    return kinds


def _wanted(kinds: list[str], family: str) -> bool:
    """Whether a reader of `family` can have an item the kind filter keeps."""
    return not kinds or any(k.split(".")[0] == family for k in kinds)


async def _cameras(request: web.Request, start: datetime, end: datetime) -> list[str]:
    """The cameras asked for, each allowed by the policy (refusals logged and raised), or all the
    caller may list."""
    services = request.app[SERVICES]
    who = signed_in(request)
    asked = [c.strip() for raw in request.query.getall("camera", []) for c in raw.split(",") if c.strip()]
    if not asked:
        return [c.id for c in list(services.cameras.values())
                if decision_for(request, who, Action.VIEW_CAMERA, c).allowed
                and decision_for(request, who, Action.LIST_RECORDINGS, c, start, end).allowed]
    allowed = []
    for camera_id in dict.fromkeys(asked):
        camera = services.cameras.get(camera_id)
        if camera is None:
            raise NotFound(f"no camera {camera_id!r}")
        # As the recordings' list: a camera the caller does not see is 404 (like one that does not
        # exist), one it sees but may not replay 403; both refusals are logged.
        await authorize(request, Action.VIEW_CAMERA, camera, log_allowed=False, hide_camera=True,
                        not_found=f"no camera {camera_id!r}")
        await authorize(request, Action.LIST_RECORDINGS, camera, start, end)
        allowed.append(camera.id)
    return allowed


@routes.get("/api/v1/review/events")
async def review_events(request: web.Request) -> web.Response:
    """Events of the cameras between start and end in time order; ?camera=&kind=&q=&limit=."""
    start, end = rfc3339(request.query.get("start"), "start"), rfc3339(request.query.get("end"), "end")
    if end <= start:
        raise BadRequest("end must be after start")
    if (end - start).days > MAX_SPAN_DAYS:
        raise BadRequest(f"ask for at most {MAX_SPAN_DAYS} days at a time")
    kinds = _kinds(request)
    text = request.query.get("q", "").strip()
    if len(text) > MAX_Q:
        raise BadRequest(f"q is at most {MAX_Q} characters")
    limit = query_limit(request, MAX_LIMIT, DEFAULT_LIMIT)
    cameras = await _cameras(request, start, end)

    services = request.app[SERVICES]
    who = signed_in(request)
    cams = services.cameras

    def also(action: Action) -> list[str]:
        return [c for c in cameras if decision_for(request, who, action, cams.get(c) or c).allowed]

    recordings = RecordingReview(services.db)
    readers: list[tuple[str, Reader, list[str]]] = [
        ("onvif", CameraEventReview(services.events).items, cameras),
        ("camera", StateReview(services.db).items, cameras),
        ("recording", recordings.gaps, cameras),
        ("hold", recordings.holds, also(Action.READ_HOLDS)),
        ("alert", AlertReview(services.db).items, cameras),
        ("case", CaseReview(services.db).items, also(Action.READ_CASES)),
    ]
    found: list[ReviewItem] = []
    truncated = False
    for family, read, where in readers:
        if not where or not _wanted(kinds, family):
            continue
        items = await read(ReviewWindow(where, start, end, READER_CAP))
        truncated = truncated or len(items) >= READER_CAP
        found.extend(i for i in items if i.matches(kinds, text))
    found.sort(key=lambda i: (i.start, i.camera, i.kind, i.id))
    truncated = truncated or len(found) > limit
    return web.json_response({
        "start": iso(start), "end": iso(end), "cameras": cameras, "kinds": kinds, "q": text,
        "preroll_s": services.settings.review.preroll_s, "truncated": truncated,
        "events": [item_json(i) for i in found[:limit]],
    })
