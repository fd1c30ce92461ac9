"""Camera routes: list, detail, state history, snapshot JPEG."""

from __future__ import annotations


from aiohttp import web
from sqlalchemy import select

from core.errors import NotFound, Unavailable
from camera_events.service import onvif_source
from gateway.http.auth import signed_in
from gateway.http.guard import authorize, decision_for
from gateway.http.appkeys import SERVICES
from gateway.http.placement import placement_json
from gateway.http.params import query_limit, query_time
from gateway.http.views import camera_detail, camera_summary, iso
from onvif_adapters.source import OnvifSource
from policy.decision import Action
from streams.camera import Camera
from streams.models import CameraStateChange
from streams.snapshot import keyframe_jpeg

routes = web.RouteTableDef()


async def _camera(request: web.Request, *, log_allowed: bool = False) -> Camera:
    """The camera named in the path, if policy lets the caller view it (else 404)."""
    camera_id = request.match_info["camera_id"]
    camera = request.app[SERVICES].cameras.get(camera_id)
    if camera is None:
        signed_in(request)
        raise NotFound(f"no camera {camera_id!r}")
    await authorize(request, Action.VIEW_CAMERA, camera, log_allowed=log_allowed, hide_camera=True)
    return camera


@routes.get("/api/v1/cameras")
async def list_cameras(request: web.Request) -> web.Response:
    """Cameras the caller may see, with state and stats."""
    who = signed_in(request)
    services = request.app[SERVICES]
    mono = services.clock.monotonic()
    visible = [
        c for c in services.cameras.values()
        if decision_for(request, who, Action.VIEW_CAMERA, c).allowed
    ]
    # Whether the caller may move each camera (an ONVIF camera and policy `ptz`): the wall
    # offers PTZ controls only there, instead of asking each camera and being refused (logged).
    return web.json_response({"cameras": [
        {**camera_summary(c, mono), **placement_json(services, c.id),
         "ptz": onvif_source(c) is not None and decision_for(request, who, Action.PTZ, c).allowed}
        for c in visible
    ]})


@routes.get("/api/v1/cameras/{camera_id}")
async def get_camera(request: web.Request) -> web.Response:
    """One camera with health checks and reconnect state (and `device` for an onvif:// camera)."""
    camera = await _camera(request)
    services = request.app[SERVICES]
    body = camera_detail(camera, services.clock.monotonic(), services.configured_cameras)
    body.update(placement_json(services, camera.id))
    if isinstance(camera.resolver, OnvifSource):
        device = camera.resolver.device
        body["device"] = device.as_json() if device is not None else None
    return web.json_response(body)


@routes.get("/api/v1/cameras/{camera_id}/history")
async def camera_history(request: web.Request) -> web.Response:
    """State transitions of one camera, newest first (for shift reports)."""
    camera = await _camera(request)
    start, end = query_time(request, "start", required=False), query_time(request, "end", required=False)
    limit = query_limit(request, 1000)
    query = select(CameraStateChange).where(CameraStateChange.camera_id == camera.config.id)
    if start is not None:
        query = query.where(CameraStateChange.at >= start)
    if end is not None:
        query = query.where(CameraStateChange.at < end)
    query = query.order_by(CameraStateChange.at.desc(), CameraStateChange.id.desc()).limit(limit)
    async with request.app[SERVICES].db() as session:
        rows = (await session.scalars(query)).all()
    return web.json_response(
        {
            "camera": camera.config.id,
            "transitions": [
                {"at": iso(r.at), "state": r.state, "reason": r.reason,
                 "problems": [p for p in r.problems.split(",") if p]}
                for r in rows
            ],
        }
    )


@routes.get("/api/v1/cameras/{camera_id}/snapshot.jpg")
async def snapshot(request: web.Request) -> web.Response:
    """The camera's own snapshot (ONVIF GetSnapshotUri) if it has one, else the latest keyframe as JPEG."""
    camera = await _camera(request, log_allowed=True)  # a snapshot is a view of footage
    jpeg = None
    if isinstance(camera.resolver, OnvifSource):
        jpeg = await camera.resolver.snapshot()
    if jpeg is None:
        jpeg = await keyframe_jpeg(camera.hub)
    if jpeg is None:
        raise Unavailable(f"camera {camera.config.id!r} has no picture yet")
    return web.Response(body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-store"})
