"""WHEP playback of recordings: `POST /whep/playback/{camera}?start=&end=` with an SDP offer.

The bearer is a signed-in user (policy `playback`, asked through guard.authorize) or a
disposition token (DispositionService.redeem, which uses one of its views). Either way the
decision is made before the answer leaves, so no media can flow without it. The plan of what
may be sent is put together by webrtc.playbackplan from the allow, whichever way it came.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from aiohttp import web

from core.errors import BadRequest, NotFound
from gateway.http.auth import disposition_token, signed_in, sign_in_watch
from gateway.http.guard import authorize
from gateway.http.appkeys import SERVICES
from gateway.http.params import rfc3339
from gateway.http.iceservers import whep_options
from gateway.http.whep import created, read_offer
from webrtc.playback import PlaybackPlan
from webrtc.playbackplan import playback_plan
from policy.audit.entries import AccessAction, AccessEvent
from policy.decision import Action, Reason

routes = web.RouteTableDef()


def _window(request: web.Request) -> tuple[datetime, datetime]:
    start, end = rfc3339(request.query.get("start"), "start"), rfc3339(request.query.get("end"), "end")
    if end <= start:
        raise BadRequest("end must be after start")
    # One playback covers at most what one playback request may cover.
    longest = request.app[SERVICES].settings.access.disposition.max_window_h
    if end - start > timedelta(hours=longest):
        raise BadRequest(f"play at most {longest:g} h at a time")
    return start, end


# Its own resource, before the POST's (see gateway/http/whep.py).
routes.route("OPTIONS", "/whep/playback/{camera_id}", name="whep-playback-options")(whep_options)


@routes.post("/whep/playback/{camera_id}")
async def start_playback(request: web.Request) -> web.Response:
    """Play a camera's recording of [start, end): 201 with the answer and the session's Location."""
    services = request.app[SERVICES]
    camera_id = request.match_info["camera_id"]
    token = disposition_token(request)
    # Whom the session counts against under webrtc.max_sessions_per_user: a token is its holder.
    holder = signed_in(request).username if token is None else "token:" + hashlib.sha256(token.encode()).hexdigest()
    start, end = _window(request)
    client = request.remote or ""
    if token is not None:
        # The token first (signature, standing; nothing used), and only its own cameras exist for
        # it: a token holder cannot tell a camera it may not play from one that does not exist, and
        # no SDP is read for a request that will be refused.
        claims = await services.dispositions.check_token(token, client)
        if camera_id not in claims.cameras:
            await services.access_log.record(AccessEvent(
                AccessAction.DECISION, actor=claims.grantee, client=client, camera=camera_id, outcome="deny",
                reason=f"{Reason.TOKEN_WRONG_CAMERA.value}: the token does not cover this camera",
                details={"action": Action.PLAYBACK.value, "token_id": claims.token_id, "route": request.path}))
            raise NotFound(f"no camera {camera_id!r}")
    camera = services.cameras.get(camera_id)
    if camera is None:
        raise NotFound(f"no camera {camera_id!r}")
    plan: PlaybackPlan | None = None
    if token is None:
        who, decision = await authorize(request, Action.PLAYBACK, camera, start, end, hide_camera=True)
        plan = playback_plan(camera_id, start, end, client, decision, viewer=who.username, role=who.role,
                             revoked=sign_in_watch(request))
    offer, as_json = await read_offer(request)
    sessions = request.app[SERVICES].webrtc
    dispositions = services.dispositions

    async def grant() -> PlaybackPlan:
        if plan is not None:
            return plan
        assert token is not None
        # Uses one view of the token (or refuses, logged, with 403).
        redemption = await dispositions.redeem(token, Action.PLAYBACK, camera_id, start, end, client)

        async def revoked() -> str | None:
            return await dispositions.revocation(redemption.claims.token_id)

        rules = services.settings.access.disposition
        window_s = (redemption.end - redemption.start).total_seconds()
        return playback_plan(camera_id, redemption.start, redemption.end, client, redemption.decision,
                             viewer=redemption.claims.grantee, revoked=revoked, token=redemption,
                             max_view_s=max(rules.view_time_min_s, rules.view_time_factor * window_s))

    # `?group=`: a synchronized replay; the holder's sessions of that id share one clock and control.
    group = request.query.get("group")
    session, answer = await sessions.open_playback(camera_id, offer, services.recorder.reader, grant, holder,
                                                   group=group)
    return created(request, session.id, answer, as_json)
