"""WHEP live viewing (draft-ietf-wish-whep, HTTP mechanics of RFC 9725): offer in, answer out;
and the session routes (DELETE, PATCH) that live and playback sessions share."""

from __future__ import annotations

import json

from aiohttp import web

from core.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge, Unprocessable, UnsupportedMediaType
from gateway.http.auth import disposition_token, signed_in, sign_in_watch
from gateway.http.guard import authorize
from gateway.http.appkeys import SERVICES
from policy.decision import Action

routes = web.RouteTableDef()

SDP = "application/sdp"
# A browser's offer is 4-8 KB; 64 KiB leaves room for many candidates and nothing more.
MAX_OFFER = 64 * 1024


async def read_offer(request: web.Request) -> tuple[str, bool]:
    """The SDP offer and whether it came in the JSON form ({"type": "offer", "sdp": ...})."""
    as_json = request.content_type == "application/json"
    if request.content_type != SDP and not as_json:
        raise UnsupportedMediaType(f"send the offer as {SDP} (or application/json)")
    if request.content_length is not None and request.content_length > MAX_OFFER:
        raise PayloadTooLarge(f"offer over {MAX_OFFER} bytes")
    raw = await request.content.read(MAX_OFFER + 1)
    if len(raw) > MAX_OFFER:
        raise PayloadTooLarge(f"offer over {MAX_OFFER} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("the offer is not UTF-8 text") from exc
    if not as_json:
        return text, False
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest("body is not valid JSON") from exc
    if not isinstance(body, dict) or body.get("type") != "offer" or not isinstance(body.get("sdp"), str):
        raise BadRequest('send {"type": "offer", "sdp": "..."}')
    return body["sdp"], True


@routes.post("/whep/live/{camera_id}")
async def start_live(request: web.Request) -> web.Response:
    """Start a live session: policy first, then negotiate; 201 with the answer and Location."""
    camera_id = request.match_info["camera_id"]
    camera = request.app[SERVICES].cameras.get(camera_id)
    if camera is None:
        signed_in(request)
        raise NotFound(f"no camera {camera_id!r}")
    who, _decision = await authorize(request, Action.LIVE, camera, hide_camera=True)
    offer, as_json = await read_offer(request)
    video = next((s for s in camera.hub.streams if s.kind == "video"), None)
    if video is not None and video.codec != "h264":
        # Passthrough only: a browser cannot be sent HEVC or MJPEG over WebRTC without
        # transcoding, which Pantau never does. (An offline camera is accepted: its video
        # starts when it returns, and is checked again then.)
        raise Unprocessable(f"camera {camera_id!r} sends {video.codec}; live WebRTC needs H.264")
    session, answer = await request.app[SERVICES].webrtc.open(
        camera.config.id, camera.hub, offer, who.username, who.role, request.remote, sign_in_watch(request)
    )
    return created(session_id=session.id, answer=answer, as_json=as_json)


def created(session_id: str, answer: str, as_json: bool) -> web.Response:
    """201 with the SDP answer (in the form the offer came in) and the session's Location."""
    headers = {"Location": f"/whep/sessions/{session_id}", "ETag": f'"{session_id}"',
               "Cache-Control": "no-store"}
    if as_json:
        return web.json_response({"type": "answer", "sdp": answer}, status=201, headers=headers)
    return web.Response(status=201, text=answer, content_type=SDP, headers=headers)


@routes.delete("/whep/sessions/{session_id}")
async def stop_session(request: web.Request) -> web.Response:
    """End a session: its owner (a playback's disposition token too), or whom the policy lets end
    others' (end_session); everyone else gets 404, and a user's refusal is logged."""
    sessions = request.app[SERVICES].webrtc
    session = sessions.get(request.match_info["session_id"])
    token = disposition_token(request)
    if token is not None:
        if session is None or not session.held_by(token):
            raise NotFound("no such session")
        await sessions.close(session, f"ended by {session.owner} (disposition token)")
        return web.Response(status=200)
    who = signed_in(request)
    if session is None:
        raise NotFound("no such session")
    # A token holder's session (role None) is never a user's, whatever the grantee is called.
    owner = session.owner if session.role is not None else None
    try:
        await authorize(request, Action.END_SESSION, session.camera, owner=owner, log_allowed=False)
    except Forbidden as refused:
        raise NotFound("no such session") from refused  # someone else's session is not shown
    await sessions.close(session, f"ended by {who.username}")
    return web.Response(status=200)


@routes.patch("/whep/sessions/{session_id}")
async def patch_session(request: web.Request) -> web.Response:
    """Trickle ICE and ICE restarts are not supported: the answer holds every candidate."""
    signed_in(request)
    raise web.HTTPMethodNotAllowed("PATCH", ["DELETE"])
