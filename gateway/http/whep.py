"""WHEP live viewing (draft-ietf-wish-whep, HTTP mechanics of RFC 9725): offer in, answer out;
and the session routes (DELETE, PATCH) that live and playback sessions share.

PATCH (trickle ICE) is authorised by the session URL alone, as MediaMTX does: its id is
unguessable and only the viewer that posted the offer learns it, and a trickled candidate cannot
take a session over (the DTLS fingerprint of the offer still has to match).
"""

from __future__ import annotations

import json
import logging

from aiohttp import web

from core.errors import BadRequest, Forbidden, NotFound, UnsupportedMediaType
from gateway.http.body import read_body
from gateway.http.auth import disposition_token, signed_in, sign_in_watch
from gateway.http.guard import authorize
from gateway.http.appkeys import SERVICES
from gateway.http.iceservers import ice_links, whep_options
from gateway.http.placement import route_live
from policy.decision import Action
from streams.feed import StreamName
from webrtc.h265 import offers_h265
from webrtc import trickle
from webrtc.livevideo import PASSTHROUGH_CODECS, LiveVideo, live_video

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

SDP = "application/sdp"
# A browser's offer is 4-8 KB; 64 KiB leaves room for many candidates and nothing more.
MAX_OFFER = 64 * 1024
# A trickled fragment holds a few candidates: 100 bytes each.
MAX_FRAGMENT = 16 * 1024


async def read_offer(request: web.Request) -> tuple[str, bool]:
    """The SDP offer and whether it came in the JSON form ({"type": "offer", "sdp": ...})."""
    as_json = request.content_type == "application/json"
    if request.content_type != SDP and not as_json:
        raise UnsupportedMediaType(f"send the offer as {SDP} (or application/json)")
    raw = await read_body(request, MAX_OFFER, "offer")
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


def live_stream(request: web.Request) -> StreamName:
    """`?stream=main|sub` (default main); 400 for anything else."""
    raw = request.query.get("stream", StreamName.MAIN)
    try:
        return StreamName(raw)
    except ValueError:
        raise BadRequest("stream must be main or sub") from None


# OPTIONS is a resource of its own (named), registered before the POST's: aiohttp-cors adds its
# preflight handler to every resource it serves and refuses one that answers OPTIONS already.
routes.route("OPTIONS", "/whep/live/{camera_id}", name="whep-live-options")(whep_options)


@routes.post("/whep/live/{camera_id}")
async def start_live(request: web.Request) -> web.Response:
    """Start a live session of the camera's main stream or (`?stream=sub`) its sub-stream: policy first,
    then negotiate; 201 with the answer and Location. Several nodes: 307 to the node that ingests the
    camera, 503 while none does."""
    camera_id = request.match_info["camera_id"]
    stream = live_stream(request)
    camera = request.app[SERVICES].cameras.get(camera_id)
    if camera is None:
        signed_in(request)
        raise NotFound(f"no camera {camera_id!r}")
    who, decision = await authorize(request, Action.LIVE, camera, hide_camera=True)
    route_live(request, request.app[SERVICES], camera_id)  # several nodes: 307 to the one that ingests it
    feed = camera.feed(stream)
    if feed is None:
        raise NotFound(f"camera {camera_id!r} has no sub-stream")
    offer, as_json = await read_offer(request)
    webrtc = request.app[SERVICES].webrtc
    hub = feed.hub  # the stream this viewer gets: the main stream, or `?stream=sub`
    video = feed.video
    # Untouched when the viewer plays the codec (H.264; H.265 where its offer lists it); else a
    # transcode if the camera allows it, or a refusal (422/503) whose reason the wall tile shows.
    # Only the main stream is transcoded (one transcoder per camera); a sub-stream the viewer cannot
    # play is refused with the reason, and the wall falls back to the main stream. H.264 with
    # B-frames (seen from the stream's second or third frame on) counts as one the viewer cannot play.
    playable = PASSTHROUGH_CODECS | {"hevc"} if offers_h265(offer) else PASSTHROUGH_CODECS
    allowed = camera.config.transcode and stream is StreamName.MAIN
    how = live_video(camera_id, video, allowed, webrtc.transcodes.limit, playable, reorders=feed.stats.reorders)
    source = video.codec if video is not None else "h264"
    session, answer = await webrtc.open(
        camera.config.id, hub, offer, who.username, who.role, request.remote, sign_in_watch(request),
        holder=who.username, codec=source,
        transcode_from=source if how is LiveVideo.TRANSCODE else None,
        # Sound when the policy lets this role hear it (access.live_audio) and the camera keeps it.
        audio=decision.audio and camera.config.audio,
    )
    return created(request, session_id=session.id, answer=answer, as_json=as_json)


def created(request: web.Request, session_id: str, answer: str, as_json: bool) -> web.Response:
    """201 with the SDP answer (in the form the offer came in), the session's Location and the ICE
    servers as Link headers (TURN with credentials: the caller was just allowed to view)."""
    headers = ice_links(request)
    headers.update({"Location": f"/whep/sessions/{session_id}", "ETag": etag(session_id),
                    "Cache-Control": "no-store"})
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


def etag(session_id: str) -> str:
    """The session's entity tag (RFC 9725: the client sends it back in If-Match on PATCH)."""
    return f'"{session_id}"'


@routes.patch("/whep/sessions/{session_id}")
async def patch_session(request: web.Request) -> web.Response:
    """Trickle ICE (RFC 8840 fragment): the viewer's later candidates join the session's peer; 204.
    No bearer needed (the unguessable session URL is the authority); an ICE restart is 422."""
    session = request.app[SERVICES].webrtc.get(request.match_info["session_id"])
    if session is None or session.ended.is_set():
        raise NotFound("no such session")
    if request.content_type != trickle.CONTENT_TYPE:
        raise UnsupportedMediaType(f"send ICE candidates as {trickle.CONTENT_TYPE} (RFC 8840)")
    match = request.headers.get("If-Match")
    if match is not None and match.strip() not in ("*", etag(session.id)):
        raise web.HTTPPreconditionFailed(text="If-Match is not this session's ETag")
    raw = await read_body(request, MAX_FRAGMENT, "fragment")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("the fragment is not UTF-8 text") from exc
    added = await session.add_remote_candidates(trickle.parse_fragment(text))
    log.info("camera %s: session %s got %d trickled candidate(s)", session.camera, session.id[:8], added,
             extra={"camera": session.camera, "session": session.id[:8], "client": request.remote})
    return web.Response(status=204)
