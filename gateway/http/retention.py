"""A second person's verdict on a shorter retention: `GET /api/v1/retention-changes[/{id}]`,
`POST .../{id}/approval` (applies it) and `POST .../{id}/rejection`; the one who asked may take it
back first (`POST .../{id}/withdrawal`).

`PATCH /api/v1/cameras/{id}` (gateway/http/onboarding.py) stores a shortening as a pending change
(fleet/retentionchanges.py); `policy.decide()` lets a role in `access.retention_approver_roles`
that is not the one who asked decide it. Both verdicts are access-log entries; an approval is a
`config_changed` entry too, naming who asked and who approved.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.errors import BadRequest, Conflict, NotFound
from fleet.retentionchanges import ChangeState, RetentionChange
from gateway.http.appkeys import SERVICES
from gateway.http.body import read_json
from gateway.http.guard import authorize
from gateway.http.onboarding import apply_change, change_view, retention_in_force, within_floor
from gateway.http.params import query_limit
from policy.audit.entries import AccessAction, AccessEvent
from policy.decision import Action
from policy.identity.users import Principal

routes = web.RouteTableDef()

MAX_BODY = 4096
MAX_NOTE = 1000


@routes.get("/api/v1/retention-changes")
async def list_changes(request: web.Request) -> web.Response:
    """Retention changes, newest first (`?state=pending|approved|rejected|withdrawn`); admins and approvers."""
    await authorize(request, Action.READ_RETENTION_CHANGES, log_allowed=False)
    raw = request.query.get("state")
    try:
        state = ChangeState(raw) if raw else None
    except ValueError as exc:
        raise BadRequest(f"state must be one of {[s.value for s in ChangeState]}") from exc
    changes = await request.app[SERVICES].retention_changes.list(state, query_limit(request, 1000, 100))
    return web.json_response({"changes": [change_view(c) for c in changes]})


@routes.get("/api/v1/retention-changes/{change_id}")
async def get_change(request: web.Request) -> web.Response:
    """One retention change; admins and approvers."""
    await authorize(request, Action.READ_RETENTION_CHANGES, log_allowed=False)
    change = await request.app[SERVICES].retention_changes.get(request.match_info["change_id"])
    return web.json_response(change_view(change))


async def _verdict(request: web.Request, action: Action = Action.DECIDE_RETENTION
                   ) -> tuple[Principal, RetentionChange, str]:
    """Who decides (by policy: a second person; for a withdrawal, who asked), the change and the note."""
    body = await read_json(request, MAX_BODY) if request.body_exists else {}
    note = body.get("note", "")
    if not isinstance(note, str) or len(note) > MAX_NOTE or not body.keys() <= {"note"}:
        raise BadRequest(f'expected {{"note": string of at most {MAX_NOTE} characters}}')
    change = await request.app[SERVICES].retention_changes.get(request.match_info["change_id"])
    who, _ = await authorize(request, action, change.camera_id, owner=change.requested_by)
    if change.state is not ChangeState.PENDING:
        raise Conflict(f"retention change {change.id!r} is {change.state.value} already")
    return who, change, note


def _decided(action: AccessAction, who: Principal, request: web.Request, change: RetentionChange,
             note: str) -> AccessEvent:
    details: dict[str, Any] = {"camera": change.camera_id, "from_days": change.from_days,
                               "to_days": change.effective_days, "requested_by": change.requested_by}
    return AccessEvent(action, actor=who.username, role=who.role, client=request.remote, camera=change.camera_id,
                       reason=note[:200], request_id=change.id, details=details)


@routes.post("/api/v1/retention-changes/{change_id}/approval")
async def approve(request: web.Request) -> web.Response:
    """Approve a pending shortening (not the one who asked) and apply it; 200 with the change.
    409 when the camera's retention changed since it was asked."""
    who, change, note = await _verdict(request)
    services = request.app[SERVICES]
    store = services.camera_store
    async with store.changing:
        stored = await store.get(change.camera_id)
        if stored is None or change.camera_id not in services.fleet.cameras:
            raise NotFound(f"no camera {change.camera_id!r}")
        if retention_in_force(stored, services) != change.from_days:
            raise Conflict("the camera's retention changed since this was asked; reject it and ask again")
        cfg = within_floor(stored.model_copy(update={"retention_days": change.to_days}),
                           services.settings.recording.min_retention_days)
        decided = await services.retention_changes.decide(change.id, ChangeState.APPROVED, who.username, note)
        await services.access_log.record(_decided(AccessAction.RETENTION_CHANGE_APPROVED, who, request, decided, note))
        await apply_change(request, who, stored, cfg, "retention shortened with a second person's approval",
                           requested_by=change.requested_by, approved_by=who.username, retention_change=change.id)
    return web.json_response(change_view(decided))


@routes.post("/api/v1/retention-changes/{change_id}/rejection")
async def reject(request: web.Request) -> web.Response:
    """Reject a pending shortening (not the one who asked): nothing changes; 200 with the change."""
    who, change, note = await _verdict(request)
    services = request.app[SERVICES]
    decided = await services.retention_changes.decide(change.id, ChangeState.REJECTED, who.username, note)
    await services.access_log.record(_decided(AccessAction.RETENTION_CHANGE_REJECTED, who, request, decided, note))
    return web.json_response(change_view(decided))


@routes.post("/api/v1/retention-changes/{change_id}/withdrawal")
async def withdraw(request: web.Request) -> web.Response:
    """Take back one's own pending shortening (who asked, still an administrator): nothing changes, and
    another may be asked for the camera; 200 with the change. 409 once it was decided."""
    who, change, note = await _verdict(request, Action.WITHDRAW_RETENTION)
    services = request.app[SERVICES]
    done = await services.retention_changes.decide(change.id, ChangeState.WITHDRAWN, who.username, note)
    await services.access_log.record(_decided(AccessAction.RETENTION_CHANGE_WITHDRAWN, who, request, done, note))
    return web.json_response(change_view(done))
