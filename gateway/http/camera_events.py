"""Camera events: the recent ones (GET /api/v1/events) and a live server-sent stream.

Both show only cameras the caller may see (Action.VIEW_CAMERA, decided per camera). The
stream sends one `event: camera-event` per event whose data is the JSON object
`{camera, kind, active, at, topic}` (the same object the list carries), a comment line every
`KEEPALIVE_S` so proxies keep the connection, and ends when the client goes away.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web

from core.errors import BadRequest, Unavailable
from camera_events.service import EventQuery, EventService
from gateway.http.auth import signed_in, sign_in_watch
from gateway.http.guard import decision_for
from gateway.http.appkeys import SERVICES
from gateway.http.params import query_time
from gateway.http.views import iso
from onvif_adapters.subscription import CameraEvent
from onvif_adapters.topics import EventKind
from policy.decision import Action

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
KEEPALIVE_S = 15.0
KEEPALIVE = object()  # no event within KEEPALIVE_S
MAX_LIMIT = 1000


def event_json(event: CameraEvent) -> dict[str, Any]:
    """The API shape of one event (the wall builds against exactly these keys)."""
    return {
        "camera": event.camera,
        "kind": event.kind.value,
        "active": event.active,
        "at": iso(event.at),
        "topic": event.topic,
    }


def _service(request: web.Request) -> EventService:
    service = request.app[SERVICES].events
    if service is None:
        raise Unavailable("events are not running")
    return service


def _visible(request: web.Request) -> set[str]:
    """Ids of the cameras the caller may see."""
    who = signed_in(request)
    services = request.app[SERVICES]
    return {c.id for c in list(services.cameras.values()) if decision_for(request, who, Action.VIEW_CAMERA, c).allowed}


def _kind(raw: str | None) -> EventKind | None:
    if raw is None:
        return None
    try:
        return EventKind(raw)
    except ValueError as exc:
        raise BadRequest(f"kind must be one of {', '.join(k.value for k in EventKind)}") from exc


@routes.get("/api/v1/events")
async def list_events(request: web.Request) -> web.Response:
    """Recent events of the cameras the caller may see, newest first; ?camera=&kind=&since=&limit=."""
    visible = _visible(request)
    service = _service(request)
    camera = request.query.get("camera")
    try:
        limit = min(max(int(request.query.get("limit", "100")), 1), MAX_LIMIT)
    except ValueError as exc:
        raise BadRequest("limit must be an integer") from exc
    # A camera the caller may not see lists nothing, exactly like one without events.
    cameras = (visible & {camera}) if camera is not None else visible
    query = EventQuery(cameras, _kind(request.query.get("kind")), query_time(request, "since", required=False), limit)
    events = await service.find(query)
    return web.json_response({"events": [event_json(e) for e in events]})


@routes.get("/api/v1/events/stream")
async def stream_events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: one `camera-event` per event of a camera the caller may see."""
    visible = _visible(request)
    service = _service(request)
    camera = request.query.get("camera")
    kind = _kind(request.query.get("kind"))
    wanted = (visible & {camera}) if camera is not None else visible
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    still_signed_in = sign_in_watch(request)
    await response.prepare(request)
    # Bytes are on their way now: failures from here on are logged and end the stream
    # instead of becoming a problem+json answer.
    with service.listen(lambda camera_id: camera_id in wanted) as listener:
        try:
            await response.write(b": pantau events\n\n")
            loop = asyncio.get_running_loop()
            checked = loop.time()
            while True:
                event: CameraEvent | None | object
                try:
                    async with asyncio.timeout(KEEPALIVE_S):
                        event = await listener.queue.get()
                except TimeoutError:
                    event = KEEPALIVE
                if still_signed_in is not None and loop.time() - checked >= KEEPALIVE_S:
                    # The stream outlives its request: it ends once the caller's sign-in does.
                    checked = loop.time()
                    if await still_signed_in() is not None:
                        break
                if event is KEEPALIVE:
                    await response.write(b": keepalive\n\n")
                    continue
                if not isinstance(event, CameraEvent):
                    break  # None: the gateway is stopping
                if kind is not None and event.kind is not kind:
                    continue
                data = json.dumps(event_json(event), separators=(",", ":"))
                await response.write(f"event: camera-event\ndata: {data}\n\n".encode())
        except (ConnectionResetError, ConnectionError):
            log.debug("events stream: client went away")
    return response
