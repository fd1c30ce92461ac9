"""Builds the aiohttp application from the services bundle."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from gateway.http import accesslog, cameras, dispositions, health, onboarding, openapi, playback, recordings, session, whep
from gateway.http import alerts, camera_events, cases, displays, downloads, eventstream, handovers, onvif, ptz, shifts
from gateway.http import bookmarks, exports, iceservers, links, onvifservice, review, snapshots, thumbnails, triggers
from gateway.http import retention, users
from gateway.http.auth import auth_middleware
from gateway.http.cors import CorsOrigins, setup_cors
from gateway.http.hostcheck import AllowedHosts, host_check_middleware
from gateway.http.appkeys import CORS, SERVICES
from gateway.http.metrics import REGISTRY, build_registry
from gateway.http.problems import problem_middleware
from gateway.http.proxies import TrustedProxies, forwarded_client_middleware
from gateway.http.securityheaders import CONTENT_SECURITY_POLICY, connecting_to, setup_security_headers
from gateway.services import Services

STATIC = Path(__file__).resolve().parent.parent / "static"
# The largest body any route takes today is a sign-in or an SDP offer; letter uploads will
# raise this for their own route.
MAX_BODY = 256 * 1024


async def _index(request: web.Request) -> web.StreamResponse:
    """The wall. On a cluster node its Content-Security-Policy (header and <meta>) also lets it
    connect to the other running nodes, where it opens live sessions of the cameras they ingest."""
    nodes = sorted(request.app[CORS].nodes)
    if not nodes:
        return web.FileResponse(STATIC / "index.html")
    page = await asyncio.to_thread((STATIC / "index.html").read_text, "utf-8")
    meta = page.split('http-equiv="Content-Security-Policy" content="', 1)[1].split('"', 1)[0]
    page = page.replace(meta, connecting_to(meta, nodes), 1)
    return web.Response(text=page, content_type="text/html", headers={
        "Content-Security-Policy": connecting_to(CONTENT_SECURITY_POLICY, nodes), "Cache-Control": "no-store"})


def build_app(services: Services) -> web.Application:
    """The HTTP application: the client's address behind a trusted proxy outermost, the host name
    check, problem+json, authentication inside, then routes."""
    proxies = TrustedProxies(services.settings.server.trusted_proxies)
    # The client's address first: every later middleware, route and log line sees the real one.
    header = services.settings.server.proxy_header
    middlewares = [forwarded_client_middleware(proxies, header)] if proxies else []
    # Then the host name (DNS rebinding): before any route or sign-in sees the request.
    settings = services.settings
    hosts = AllowedHosts.of_this_machine(settings.server.allowed_hosts,
                                         (settings.server.public_url, settings.cluster.advertise_url))
    middlewares.append(host_check_middleware(hosts))
    app = web.Application(middlewares=[*middlewares, problem_middleware, auth_middleware], client_max_size=MAX_BODY)
    app[SERVICES] = services
    app[REGISTRY] = build_registry(services)
    app[downloads.DOWNLOADS] = downloads.DownloadSlots(services.settings.recording.max_downloads)
    app.add_routes(health.routes)
    app.add_routes(session.routes)
    app.add_routes(displays.routes)
    app.add_routes(users.routes)
    app.add_routes(cameras.routes)
    app.add_routes(ptz.routes)
    app.add_routes(camera_events.routes)
    app.add_routes(eventstream.routes)
    app.add_routes(alerts.routes)
    app.add_routes(onboarding.routes)
    app.add_routes(retention.routes)
    app.add_routes(onvif.routes)
    app.add_routes(onvifservice.routes)
    app.add_routes(openapi.routes)
    app.add_routes(dispositions.routes)
    app.add_routes(accesslog.routes)
    app.add_routes(recordings.routes)
    app.add_routes(thumbnails.routes)
    app.add_routes(review.routes)
    app.add_routes(bookmarks.routes)
    app.add_routes(snapshots.routes)
    app.add_routes(downloads.routes)
    app.add_routes(whep.routes)
    app.add_routes(iceservers.routes)
    app.add_routes(playback.routes)
    app.add_routes(shifts.routes)
    app.add_routes(handovers.routes)
    app.add_routes(cases.routes)
    app.add_routes(triggers.routes)
    app.add_routes(exports.routes)
    app.add_routes(links.routes)
    app.router.add_get("/", _index)
    app.router.add_static("/static/", STATIC, follow_symlinks=False)
    app[CORS] = CorsOrigins(services.settings.server.cors_origins)
    setup_cors(app, app[CORS], cluster=services.settings.cluster_enabled)
    setup_security_headers(app)
    return app
