"""Camera events: the recent ones (GET /api/v1/events), of the cameras the caller may see
(Action.VIEW_CAMERA, decided per camera). The live stream is gateway/http/eventstream.py."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from core.errors import BadRequest
from camera_events.service import EventQuery
from gateway.http.auth import signed_in
from gateway.http.guard import decision_for
from gateway.http.appkeys import SERVICES
from gateway.http.params import query_limit, query_time
from gateway.http.views import iso
from onvif_adapters.subscription import CameraEvent
from onvif_adapters.topics import EventKind
from policy.decision import Action

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
MAX_LIMIT = 1000


def event_json(event: CameraEvent) -> dict[str, Any]:
    """The API shape of one event (the wall builds against exactly these keys)."""
    return {
        "camera": event.camera,
        "kind": event.kind.value,
        "active": event.active,
        "at": iso(event.at),
        "topic": event.topic,
        "initial": event.initial,
    }


def visible_cameras(request: web.Request) -> set[str]:
    """Ids of the cameras the caller may see."""
    who = signed_in(request)
    services = request.app[SERVICES]
    return {c.id for c in list(services.cameras.values()) if decision_for(request, who, Action.VIEW_CAMERA, c).allowed}


def event_kind(raw: str | None) -> EventKind | None:
    if raw is None:
        return None
    try:
        return EventKind(raw)
    except ValueError as exc:
        raise BadRequest(f"kind must be one of {', '.join(k.value for k in EventKind)}") from exc


@routes.get("/api/v1/events")
async def list_events(request: web.Request) -> web.Response:
    """Recent events of the cameras the caller may see, newest first; ?camera=&kind=&since=&limit=."""
    visible = visible_cameras(request)
    service = request.app[SERVICES].events
    camera = request.query.get("camera")
    limit = query_limit(request, MAX_LIMIT)
    # A camera the caller may not see lists nothing, exactly like one without events.
    cameras = (visible & {camera}) if camera is not None else visible
    query = EventQuery(cameras, event_kind(request.query.get("kind")), query_time(request, "since", required=False), limit)
    events = await service.find(query)
    return web.json_response({"events": [event_json(e) for e in events]})
