"""The ONVIF device facade's SOAP endpoints (`onvif_server.enabled`): parse nothing, decide nothing,
just hand the body, the peer and the URL it reached to onvif_server, which authenticates
(WS-UsernameToken), asks the policy and answers."""

from __future__ import annotations

import re

from aiohttp import web

from core.errors import NotFound, PayloadTooLarge
from gateway.http.appkeys import SERVICES
from gateway.http.body import read_body
from onvif_server.calls import CAMERA_PARAM, SERVICE_PATHS, SNAPSHOT_PATH, Call, ServiceName
from onvif_server.events import SUBSCRIPTION_PARAM
from onvif_server.facade import OnvifServer
from onvif_server.soap import CONTENT_TYPE, MAX_REQUEST_BYTES, fault_envelope, malformed

routes = web.RouteTableDef()

# What we put back into XAddrs from the Host header: a host name, IPv4 or bracketed IPv6, a port.
_HOST = re.compile(r"[A-Za-z0-9.\-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]")
_CAMERA = re.compile(r"[a-z0-9-]{1,64}")
_SUBSCRIPTION = re.compile(r"[A-Za-z0-9_-]{1,64}")


def is_onvif_soap(request: web.Request) -> bool:
    """A POST to one of the SOAP services (authenticated in the message: WS-UsernameToken) or a GET of a
    snapshot URL they hand out (HTTP Digest): never a bearer."""
    return ((request.method == "POST" and request.path in SERVICE_PATHS.values())
            or (request.method == "GET" and request.path.startswith(SNAPSHOT_PATH + "/")))


async def _body(request: web.Request) -> bytes | None:
    """The body, or None when it is larger than a SOAP request may be (read no further)."""
    try:
        return await read_body(request, MAX_REQUEST_BYTES)
    except PayloadTooLarge:
        return None


def _reached(request: web.Request) -> tuple[str, str]:
    """(scheme://host:port, host) as the client reached us; the socket's address if the Host header is odd."""
    host = request.url.host or ""
    port = request.url.port
    if not _HOST.fullmatch(host if not (":" in host and not host.startswith("[")) else f"[{host}]"):
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        host, port = (str(sockname[0]), int(sockname[1])) if sockname else ("127.0.0.1", port)
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{request.scheme}://{shown}:{port}", host.strip("[]")


def _facade(request: web.Request) -> OnvifServer:
    """The facade, or 404: off, or (several workers) run by worker 0, which WS-Discovery announces."""
    services = request.app[SERVICES]
    if services.onvif_server is None:
        if services.settings.onvif_server.enabled:
            raise NotFound("the ONVIF device facade runs in worker 0: use the address WS-Discovery announces "
                           "(worker 0's own port)")
        raise NotFound("the ONVIF device facade is off (onvif_server.enabled)")
    return services.onvif_server


async def _serve(request: web.Request, service: ServiceName) -> web.Response:
    server = _facade(request)
    body = await _body(request)
    if body is None:
        fault = malformed(f"the request is larger than {MAX_REQUEST_BYTES} bytes")
        return web.Response(status=413, body=fault_envelope(fault), content_type=CONTENT_TYPE, charset="utf-8")
    camera = request.query.get(CAMERA_PARAM)
    if camera is not None and not _CAMERA.fullmatch(camera):
        raise NotFound("no such device")
    subscription = request.query.get(SUBSCRIPTION_PARAM)
    if subscription is not None and not _SUBSCRIPTION.fullmatch(subscription):
        raise NotFound("no such subscription")
    base_url, host = _reached(request)
    answer = await server.handle(Call(service, body, request.remote or "", base_url, host, camera, subscription))
    return web.Response(status=answer.status, body=answer.body, content_type=CONTENT_TYPE, charset="utf-8")


@routes.post(SERVICE_PATHS[ServiceName.DEVICE])
async def device_service(request: web.Request) -> web.Response:
    """ONVIF device service (SOAP 1.2)."""
    return await _serve(request, ServiceName.DEVICE)


@routes.post(SERVICE_PATHS[ServiceName.MEDIA])
async def media_service(request: web.Request) -> web.Response:
    """ONVIF media service, ver10 (SOAP 1.2)."""
    return await _serve(request, ServiceName.MEDIA)


@routes.post(SERVICE_PATHS[ServiceName.EVENTS])
async def events_service(request: web.Request) -> web.Response:
    """ONVIF events service, ver10 (SOAP 1.2): PullPoint subscriptions (`?subscription=` addresses one)."""
    return await _serve(request, ServiceName.EVENTS)


@routes.get(SNAPSHOT_PATH + "/{profile}")
async def snapshot(request: web.Request) -> web.Response:
    """The JPEG a GetSnapshotUri URL names (HTTP Digest or Basic with an integrator account)."""
    server = _facade(request)
    base_url, host = _reached(request)
    call = Call(ServiceName.MEDIA, b"", request.remote or "", base_url, host)
    answer = await server.snapshot(call, request.match_info["profile"], request.headers.get("Authorization"),
                                   request.method, request.path_qs)
    if answer.status == 200:
        return web.Response(body=answer.body, content_type="image/jpeg", headers={"Cache-Control": "no-store"})
    headers = {"WWW-Authenticate": answer.challenge} if answer.challenge else {}
    return web.Response(status=answer.status, text=answer.reason, headers=headers)


@routes.post(SERVICE_PATHS[ServiceName.SEARCH])
async def search_service(request: web.Request) -> web.Response:
    """ONVIF search service (Profile G; SOAP 1.2): the recordings an account may list, and their history."""
    return await _serve(request, ServiceName.SEARCH)


@routes.post(SERVICE_PATHS[ServiceName.REPLAY])
async def replay_service(request: web.Request) -> web.Response:
    """ONVIF replay service (Profile G; SOAP 1.2): GetReplayUri, the RTSP restream's replay URL of a recording."""
    return await _serve(request, ServiceName.REPLAY)


@routes.post(SERVICE_PATHS[ServiceName.PTZ])
async def ptz_service(request: web.Request) -> web.Response:
    """ONVIF PTZ service, ver20 (SOAP 1.2): passed through to the cameras' PTZ."""
    return await _serve(request, ServiceName.PTZ)
