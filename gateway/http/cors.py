"""CORS for a video wall or tool served from another origin (`server.cors_origins`).

aiohttp-cors answers the preflight and adds the headers; this module only says which
origins, methods and headers. Bearer tokens, not cookies, carry authentication, so
credentials are never allowed. WHEP needs `Location` and `ETag` readable by the page.
"""

from __future__ import annotations

import aiohttp_cors
from aiohttp import web

EXPOSED = ("Location", "ETag", "Link", "Content-Disposition")
ALLOWED_HEADERS = ("Authorization", "Content-Type", "If-Match")
MAX_AGE_S = 600


def setup_cors(app: web.Application, origins: list[str]) -> None:
    """Allow `origins` ("*" for any) on every route; nothing when the list is empty."""
    if not origins:
        return
    options = aiohttp_cors.ResourceOptions(
        allow_credentials=False, expose_headers=EXPOSED, allow_headers=ALLOWED_HEADERS, max_age=MAX_AGE_S,
        allow_methods=["GET", "POST", "DELETE", "PATCH"],
    )
    cors = aiohttp_cors.setup(app, defaults={origin: options for origin in origins})
    for route in list(app.router.routes()):
        if route.method != "HEAD":  # aiohttp adds HEAD beside every GET; the resource covers it
            cors.add(route)
