"""Alerts over HTTP: `GET /api/v1/alerts`, the recent ones from the outbox, newest last.

A camera's alert is shown to whoever may see that camera (Action.VIEW_CAMERA); an alert about no
camera (storage, the access log, sign-in bursts) to the roles Action.GATEWAY_ALERTS allows.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from alerts.model import Alert
from core.alerting import AlertKind
from core.errors import BadRequest
from gateway.http.appkeys import SERVICES
from gateway.http.auth import signed_in
from gateway.http.camera_events import visible_cameras
from gateway.http.guard import decision_for
from gateway.http.params import query_int, query_limit
from policy.decision import Action

routes = web.RouteTableDef()
MAX_LIMIT = 1000


def alert_kinds(raw: str | None) -> frozenset[AlertKind]:
    """`?kinds=camera.offline,storage.full` (empty: every kind); 400 naming an unknown kind."""
    if not raw:
        return frozenset()
    kinds = set()
    for name in raw.split(","):
        try:
            kinds.add(AlertKind(name.strip()))
        except ValueError as exc:
            raise BadRequest(f"unknown alert kind {name.strip()!r}; kinds: {', '.join(k.value for k in AlertKind)}") from exc
    return frozenset(kinds)


def alert_filter(request: web.Request) -> Callable[[Alert], bool]:
    """Which alerts this caller may receive, narrowed by `?kinds=` and `?camera=`."""
    who = signed_in(request)
    visible = visible_cameras(request)
    gateway_wide = decision_for(request, who, Action.GATEWAY_ALERTS).allowed
    kinds = alert_kinds(request.query.get("kinds"))
    camera = request.query.get("camera")

    def wants(alert: Alert) -> bool:
        if kinds and alert.kind not in kinds:
            return False
        if alert.camera is None:
            if camera is None and gateway_wide:
                return True
            # An emergency concerns its playbook's cameras: whoever sees one of them is told, so
            # every wall showing them (a viewer's, an enrolled display) can take the emergency up.
            return camera is None and _emergency_cameras(alert) & visible != set()
        return alert.camera in visible and (camera is None or alert.camera == camera)

    return wants


CASE_KINDS = frozenset({AlertKind.CASE_OPENED, AlertKind.CASE_ACKNOWLEDGED, AlertKind.CASE_ESCALATED,
                        AlertKind.CASE_CLOSED})


def _emergency_cameras(alert: Alert) -> set[str]:
    details = alert.details or {}
    if alert.kind not in CASE_KINDS or details.get("kind") != "emergency":
        return set()
    return {c for c in str(details.get("cameras") or "").split(",") if c}


@routes.get("/api/v1/alerts")
async def list_alerts(request: web.Request) -> web.Response:
    """Alerts the caller may see with a seq above `after` (default: the last `limit`), oldest first."""
    wants = alert_filter(request)
    limit = query_limit(request, MAX_LIMIT)
    bus = request.app[SERVICES].alerts
    after = query_int(request, "after", None, low=0)
    if after is None:  # the newest: a window back from the end, filtered, its last `limit`
        window = 10 * limit
        found = [a for a in await bus.outbox.after(max(0, bus.last_seq - window), window) if wants(a)][-limit:]
    else:  # oldest first from `after`, page by page until `limit` are found
        found = []
        while len(found) < limit:
            batch = await bus.outbox.after(after, MAX_LIMIT)
            found += [a for a in batch if wants(a)]
            if len(batch) < MAX_LIMIT:
                break
            after = batch[-1].seq
        found = found[:limit]
    return web.json_response({"alerts": [a.as_json() for a in found], "last_seq": bus.last_seq})
