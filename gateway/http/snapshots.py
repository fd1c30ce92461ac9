"""Snapshots over HTTP: take one (live, or from a recording at `at`), list them, download one,
attach one to a case. Taking and viewing are decided like watching what the picture shows: `live`
on the camera for a live picture, `playback` of that moment for a recorded one (so a role that may
not replay that far back may not take or see it either). Each is logged with the JPEG's SHA-256."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import BadRequest, NotFound, Unavailable
from core.utctime import format_utc
from evidence.models import Snapshot, SnapshotSource
from evidence.snapshots import Snapshots, check_moment, live_jpeg, recorded_jpeg, snapshot_view
from gateway.http.appkeys import SERVICES
from gateway.http.body import read_json
from gateway.http.guard import authorize, decision_for
from gateway.http.params import query_limit, rfc3339
from policy.audit.entries import AccessAction, AccessEvent
from policy.audit.records import Actor
from policy.decision import Action, Decision
from policy.identity.users import Principal
from streams.camera import Camera

routes = web.RouteTableDef()
MAX_BODY = 4 * 1024
# A recorded picture is decided as the replay of [at, at + this): the moment it shows.
MOMENT = timedelta(seconds=1)


def _rule(source: str, at: datetime) -> tuple[Action, datetime | None, datetime | None]:
    if source == SnapshotSource.LIVE:
        return Action.LIVE, None, None
    return Action.PLAYBACK, at, at + MOMENT


def _decision(request: web.Request, who: Principal, row: Snapshot) -> Decision:
    action, start, end = _rule(row.source, row.at)
    camera = request.app[SERVICES].cameras.get(row.camera_id) or row.camera_id
    return decision_for(request, who, action, camera, start, end)


async def _case_for(request: web.Request, case_id: object) -> tuple[Principal, str]:
    """The case a snapshot is attached to, if the caller may handle it (404 for none)."""
    if not isinstance(case_id, str) or not case_id:
        raise BadRequest("case_id must be a case's id")
    await request.app[SERVICES].cases.get(case_id)  # 404 for no such case
    who, _ = await authorize(request, Action.HANDLE_CASE)
    return who, case_id


async def _attach(request: web.Request, who: Principal, case_id: str, row: Snapshot) -> None:
    snapshots: Snapshots = request.app[SERVICES].snapshots
    shot = {"snapshot_id": row.id, "camera": row.camera_id, "at": format_utc(row.at), "source": row.source,
            "sha256": row.sha256, "bytes": row.bytes}

    async def mark(session: AsyncSession, seq: int) -> None:
        await snapshots.mark_attached(session, row.id, case_id)

    await request.app[SERVICES].cases.attach_snapshot(Actor(who.username, who.role, request.remote), case_id, shot,
                                                      also=mark)


@routes.post("/api/v1/cameras/{camera_id}/snapshots")
async def take_snapshot(request: web.Request) -> web.Response:
    """A JPEG of the camera now (no `at`) or at `at` in its recordings, kept and logged; with
    `case_id`, attached to that case."""
    services = request.app[SERVICES]
    body: dict[str, Any] = await read_json(request, MAX_BODY) if request.can_read_body else {}
    camera_id = request.match_info["camera_id"]
    camera: Camera | None = services.cameras.get(camera_id)
    if camera is None:
        raise NotFound(f"no camera {camera_id!r}")
    raw_at = body.get("at")
    at = None
    if raw_at is not None:
        at = rfc3339(raw_at, "at")
        check_moment(at, services.clock.now())
    action, start, end = _rule(SnapshotSource.LIVE if at is None else SnapshotSource.RECORDING, at or services.clock.now())
    # The snapshot's own entry (with the JPEG's hash) is the log line of an allow.
    who, _ = await authorize(request, action, camera, start, end, log_allowed=False, hide_camera=True,
                             not_found=f"no camera {camera_id!r}")
    case = await _case_for(request, body["case_id"]) if body.get("case_id") is not None else None
    if at is None:
        got = await live_jpeg(camera.hub)
        if got is None:
            raise Unavailable(f"camera {camera_id!r} has no picture yet")
        source = SnapshotSource.LIVE
    else:
        got = await recorded_jpeg(services.recorder.reader, camera.id, at)
        source = SnapshotSource.RECORDING
    jpeg, shown = got
    row = await services.snapshots.keep(Actor(who.username, who.role, request.remote), camera.id, jpeg, shown, source)
    if case is not None:
        await _attach(request, case[0], case[1], row)
        row = await services.snapshots.get(row.id)
    return web.json_response(snapshot_view(row), status=201,
                             headers={"Location": f"/api/v1/snapshots/{row.id}"})


@routes.get("/api/v1/snapshots")
async def list_snapshots(request: web.Request) -> web.Response:
    """Snapshots of a camera and/or a case, newest first; each one the caller may see (decided again)."""
    services = request.app[SERVICES]
    camera_id = request.query.get("camera") or None
    case_id = request.query.get("case") or None
    if case_id is not None:
        await services.cases.get(case_id)
        who, _ = await authorize(request, Action.READ_CASES, log_allowed=False)
    elif camera_id is not None:
        camera = services.cameras.get(camera_id)
        who, _ = await authorize(request, Action.VIEW_CAMERA, camera or camera_id, log_allowed=False,
                                 hide_camera=True, not_found=f"no camera {camera_id!r}")
    else:
        raise BadRequest("name a camera or a case")
    rows = await services.snapshots.list(camera_id, case_id, query_limit(request, 500, 200) or 200)
    return web.json_response({"snapshots": [snapshot_view(r) for r in rows if _decision(request, who, r).allowed]})


@routes.get("/api/v1/snapshots/{snapshot_id}")
async def get_snapshot(request: web.Request) -> web.Response:
    """The JPEG itself (decided again as a view of what it shows, and logged with its hash)."""
    services = request.app[SERVICES]
    row = await services.snapshots.get(request.match_info["snapshot_id"])
    action, start, end = _rule(row.source, row.at)
    camera = services.cameras.get(row.camera_id) or row.camera_id
    who, _ = await authorize(request, action, camera, start, end, log_allowed=False, hide_camera=True,
                             not_found=f"no snapshot {row.id!r}")
    jpeg = await services.snapshots.read(row)
    await services.access_log.append(AccessEvent(
        AccessAction.SNAPSHOT_VIEWED, actor=who.username, role=who.role, client=request.remote, camera=row.camera_id,
        start=row.at, details={"id": row.id, "sha256": row.sha256, "bytes": row.bytes},
    ))
    return web.Response(body=jpeg, content_type="image/jpeg", headers={
        "Cache-Control": "no-store", "Content-Disposition": f'attachment; filename="{row.id}.jpg"',
        "X-Content-SHA256": row.sha256,
    })


@routes.post("/api/v1/cases/{case_id}/snapshots")
async def attach_snapshot(request: web.Request) -> web.Response:
    """Attach a stored snapshot (`snapshot_id`) the caller may see to the case (once)."""
    services = request.app[SERVICES]
    body = await read_json(request, MAX_BODY)
    who, case_id = await _case_for(request, request.match_info["case_id"])
    snapshot_id = body.get("snapshot_id")
    if not isinstance(snapshot_id, str) or not snapshot_id:
        raise BadRequest("snapshot_id is required")
    row = await services.snapshots.get(snapshot_id)
    action, start, end = _rule(row.source, row.at)
    await authorize(request, action, services.cameras.get(row.camera_id) or row.camera_id, start, end,
                    log_allowed=False, hide_camera=True, not_found=f"no snapshot {snapshot_id!r}")
    await _attach(request, who, case_id, row)
    return web.json_response(snapshot_view(await services.snapshots.get(snapshot_id)), status=201)
