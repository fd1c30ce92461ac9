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
from gateway.http.auth import signed_in
from gateway.http.appkeys import SERVICES
from policy.decision import Action, Context, Decision, ObligationKind, Reason, Resource, Subject, decide
from policy.audit.entries import AccessAction, AccessEvent
from policy.identity.users import Principal
from streams.camera import Camera


def _camera_id(camera: Camera | str | None) -> str | None:
    return camera.config.id if isinstance(camera, Camera) else camera


def decision_for(
    request: web.Request,
    who: Principal,
    action: Action,
    camera: Camera | str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    owner: str | None = None,
) -> Decision:
    """The policy decision for a signed-in user; pure, nothing logged. `camera` may be the id of
    a camera that is not configured (any more): it is in no group then."""
    services = request.app[SERVICES]
    resource = Resource(
        camera=_camera_id(camera),
        camera_groups=frozenset(camera.config.groups) if isinstance(camera, Camera) else frozenset(),
        start=start,
        end=end,
        owner=owner,
    )
    context = Context(now=services.clock.now(), client=request.remote or "")
    return decide(services.settings.access, Subject(who.username, who.role), action, resource, context)


async def authorize(
    request: web.Request,
    action: Action,
    camera: Camera | str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    owner: str | None = None,
    log_allowed: bool = True,
    hide_camera: bool = False,
    not_found: str | None = None,
    as_user: Principal | None = None,
) -> tuple[Principal, Decision]:
    """Decide, log as described above, and raise 403 on a denial; 404 (saying `not_found`, else
    that the camera does not exist) when `hide_camera` and the camera is not the caller's to see.
    The subject is the signed-in user, or `as_user` for a request that carries someone's authority
    without a sign-in (a signed link: gateway/http/links.py)."""
    who = as_user if as_user is not None else signed_in(request)
    decision = decision_for(request, who, action, camera, start, end, owner)
    logged = not decision.allowed or (log_allowed and decision.obligation(ObligationKind.LOG) is not None)
    if logged:
        await request.app[SERVICES].access_log.record(
            AccessEvent(
                AccessAction.DECISION,
                actor=who.username,
                role=who.role,
                client=request.remote,
                camera=_camera_id(camera),
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
            raise NotFound(not_found or f"no camera {request.match_info.get('camera_id', '')!r}")
        raise Forbidden(f"policy: {decision.text}")
    return who, decision
