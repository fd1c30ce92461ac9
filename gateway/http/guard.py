"""Routes ask the policy engine through here; no route decides on its own.

Denials are always written to the access log with their reason. Allows are written when
the decision carries the "log" obligation and the route says the access is worth a
line (a snapshot is a view of footage; listing camera names every few seconds from a
video wall is not, and would bury the entries an auditor looks for).
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from core.errors import Forbidden, NotFound
from gateway.http.auth import require_role
from gateway.http.appkeys import SERVICES
from policy.decision import Action, Context, Decision, ObligationKind, Reason, Resource, Subject, decide
from policy.audit.entries import AccessAction, AccessEvent
from policy.identity.users import Principal
from streams.camera import Camera


def decision_for(
    request: web.Request,
    who: Principal,
    action: Action,
    camera: Camera | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    owner: str | None = None,
) -> Decision:
    """The policy decision for a signed-in user; pure, nothing logged."""
    services = request.app[SERVICES]
    resource = Resource(
        camera=camera.config.id if camera else None,
        camera_groups=frozenset(camera.config.groups) if camera else frozenset(),
        start=start,
        end=end,
        owner=owner,
    )
    context = Context(now=services.clock.now(), client=request.remote or "")
    return decide(services.settings.access, Subject(who.username, who.role), action, resource, context)


async def authorize(
    request: web.Request,
    action: Action,
    camera: Camera | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    log_allowed: bool = True,
    hide_camera: bool = False,
) -> tuple[Principal, Decision]:
    """Decide, log as described above, and raise 403 (or 404 when `hide_camera`) on a denial."""
    who = require_role(request, "viewer")
    decision = decision_for(request, who, action, camera, start, end)
    logged = not decision.allowed or (log_allowed and decision.obligation(ObligationKind.LOG) is not None)
    if logged:
        await request.app[SERVICES].access_log.record(
            AccessEvent(
                AccessAction.DECISION,
                actor=who.username,
                role=who.role,
                client=request.remote,
                camera=camera.config.id if camera else None,
                start=start,
                end=end,
                outcome="allow" if decision.allowed else "deny",
                reason=decision.text,
                details={"action": action.value, "route": request.path},
            )
        )
    if not decision.allowed:
        # A camera the caller may not see answers exactly like one that does not exist.
        if hide_camera and decision.reason in (Reason.NOT_VISIBLE, Reason.NO_CAMERA):
            raise NotFound(f"no camera {request.match_info.get('camera_id', '')!r}")
        raise Forbidden(f"policy: {decision.text}")
    return who, decision
