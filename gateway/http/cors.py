"""CORS for a video wall or tool served from another origin (`server.cors_origins`).

aiohttp-cors answers the preflight and adds the headers; this module only says which
origins, methods and headers. Bearer tokens, not cookies, carry authentication, so
credentials are never allowed. WHEP needs `Location` and `ETag` readable by the page.
"""

from __future__ import annotations

import aiohttp_cors
from aiohttp import web

from core.errors import Forbidden

EXPOSED = ("Location", "ETag", "Link", "Content-Disposition", "Accept-Post", "Retry-After")
ALLOWED_HEADERS = ("Authorization", "Content-Type", "If-Match")
ALLOWED_METHODS = ("GET", "POST", "DELETE", "PATCH")
MAX_AGE_S = 600


def setup_cors(app: web.Application, origins: list[str]) -> None:
    """Allow `origins` ("*" for any) on every route; nothing when the list is empty."""
    if not origins:
        return
    options = aiohttp_cors.ResourceOptions(
        allow_credentials=False, expose_headers=EXPOSED, allow_headers=ALLOWED_HEADERS, max_age=MAX_AGE_S,
        allow_methods=list(ALLOWED_METHODS),
    )
    cors = aiohttp_cors.setup(app, defaults={origin: options for origin in origins})
    for route in list(app.router.routes()):
        # aiohttp adds HEAD beside every GET (the resource covers it); a route that answers OPTIONS
        # itself (WHEP's) answers preflights with preflight() below, as aiohttp-cors refuses to
        # add its own handler beside one.
        if route.method not in ("HEAD", "OPTIONS"):
            cors.add(route)


def is_preflight(request: web.Request) -> bool:
    """A CORS preflight: OPTIONS asking whether a method may be used."""
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers


def allowed_origin(request: web.Request, origins: list[str]) -> str | None:
    """The value of Access-Control-Allow-Origin for this request, or None when not allowed."""
    origin = request.headers.get("Origin")
    if origin is None or not origins:
        return None
    if "*" in origins:
        return "*"
    return origin if origin in origins else None


def preflight(request: web.Request, origins: list[str]) -> web.Response:
    """Answer a preflight as aiohttp-cors does, for a route that answers OPTIONS itself; 403 for an
    origin, method or header that is not allowed."""
    origin = allowed_origin(request, origins)
    method = request.headers.get("Access-Control-Request-Method", "").upper()
    asked = {h.strip().lower() for h in request.headers.get("Access-Control-Request-Headers", "").split(",")}
    asked.discard("")
    if origin is None or method not in ALLOWED_METHODS or not asked <= {h.lower() for h in ALLOWED_HEADERS}:
        raise Forbidden("CORS preflight refused: origin, method or headers not allowed (server.cors_origins)")
    headers = {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Methods": method,
               "Access-Control-Max-Age": str(MAX_AGE_S)}
    if asked:
        headers["Access-Control-Allow-Headers"] = ", ".join(sorted(asked))
    return web.Response(status=200, headers=headers)


def cors_headers(request: web.Request, origins: list[str]) -> dict[str, str]:
    """The CORS headers of an actual response from a route that answers OPTIONS itself."""
    origin = allowed_origin(request, origins)
    if origin is None:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Expose-Headers": ", ".join(EXPOSED)}
