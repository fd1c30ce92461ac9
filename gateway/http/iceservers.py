"""What a WHEP client needs to reach the gateway: its ICE servers (`webrtc.ice_servers`) as
`Link: <url>; rel="ice-server"` headers (on answers and on OPTIONS, as draft-ietf-wish-whep and
MediaMTX do) and as JSON for the pages' RTCPeerConnection.

TURN URLs and their credentials are secrets: only callers who may view get them (a signed-in
user or an enrolled display, or on playback a standing disposition token). STUN URLs are public.
"""

from __future__ import annotations

from aiohttp import web
from multidict import CIMultiDict

from core.errors import Unauthorized
from gateway.http.appkeys import CORS, SERVICES
from gateway.http.auth import bearer, disposition_token, is_own_token, signed_in
from gateway.http.cors import cors_headers, is_preflight, preflight
from policy.identity import displays

routes = web.RouteTableDef()

SDP = "application/sdp"
# MediaMTX's WHEP reader trickles its candidates only when OPTIONS lists PATCH here.
WHEP_METHODS = "OPTIONS, POST, PATCH, DELETE"
PLAYBACK_PREFIX = "/whep/playback/"


def ice_links(request: web.Request, credentials: bool = True) -> CIMultiDict[str]:
    """Headers with one `Link` per ICE server URL (TURN ones only with `credentials`)."""
    headers: CIMultiDict[str] = CIMultiDict()
    for link in request.app[SERVICES].webrtc.network.link_headers(credentials):
        headers.add("Link", link)
    return headers


async def _may_view(request: web.Request) -> bool:
    """Whether an OPTIONS caller may see TURN credentials. The auth middleware lets every OPTIONS
    through (CORS preflights carry no token), so the bearer is checked here: none is False, one
    that does not stand is 401 (a disposition token: 403, logged, as for the offer itself)."""
    token = bearer(request)
    if token is None:
        return False
    services = request.app[SERVICES]
    if is_own_token(token):
        resolve = services.displays.resolve if token.startswith(displays.TOKEN_PREFIX) else services.sessions.resolve
        if await resolve(token) is None:
            raise Unauthorized("the bearer token is unknown, expired or revoked")
        return True
    if request.path.startswith(PLAYBACK_PREFIX):
        await services.dispositions.check_token(token, request.remote or "")
        return True
    raise Unauthorized("live viewing needs a signed-in session, not a disposition token")


async def whep_options(request: web.Request) -> web.Response:
    """OPTIONS on a WHEP endpoint: 204 with Accept-Post and the ICE servers as Link headers (with
    TURN credentials for a bearer who may view); a CORS preflight is answered as such."""
    origins = request.app[CORS].all()
    if is_preflight(request):
        return preflight(request, origins)
    headers = ice_links(request, credentials=await _may_view(request))
    headers.update({"Accept-Post": SDP, "Allow": "OPTIONS, POST", "Access-Control-Allow-Methods": WHEP_METHODS,
                    "Cache-Control": "no-store", **cors_headers(request, origins)})
    return web.Response(status=204, headers=headers)


@routes.get("/api/v1/webrtc/config")
async def webrtc_config(request: web.Request) -> web.Response:
    """The pages' RTCPeerConnection configuration: the ICE servers with TURN credentials, for a
    signed-in user or display, or a disposition token that still stands (the external viewer)."""
    token = disposition_token(request)
    services = request.app[SERVICES]
    if token is not None:
        await services.dispositions.check_token(token, request.remote or "")
    else:
        signed_in(request)
    return web.json_response({"iceServers": services.webrtc.network.client_servers()},
                             headers={"Cache-Control": "no-store"})
