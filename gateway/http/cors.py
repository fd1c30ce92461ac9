"""CORS for a video wall or tool served from another origin (`server.cors_origins`).

aiohttp-cors answers the preflight and adds the headers; this module only says which
origins, methods and headers. Bearer tokens, not cookies, carry authentication, so
credentials are never allowed. WHEP needs `Location` and `ETag` readable by the page.

Several nodes: every node also allows the other running nodes' advertised origins (read from the
registry every renew_s, `CorsOrigins.set_nodes`), so the wall served by one node can start a live
session on the node that ingests the camera with the same bearer token (sessions are shared in the
database).
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

import aiohttp_cors
from aiohttp import web

from core.errors import Forbidden

EXPOSED = ("Location", "ETag", "Link", "Content-Disposition", "Accept-Post", "Retry-After")
ALLOWED_HEADERS = ("Authorization", "Content-Type", "If-Match")
ALLOWED_METHODS = ("GET", "POST", "DELETE", "PATCH")
MAX_AGE_S = 600


class CorsOrigins:
    """The origins allowed: `server.cors_origins`, plus the cluster's other nodes' as last read."""

    def __init__(self, configured: Iterable[str]) -> None:
        self.configured = list(configured)
        self.nodes: frozenset[str] = frozenset()
        # aiohttp-cors's default table (origin -> options) and the options for a node's origin, once set up.
        self._table: MutableMapping[str, Any] | None = None
        self._options: aiohttp_cors.ResourceOptions | None = None

    def all(self) -> list[str]:
        """Every allowed origin ("*": any)."""
        return self.configured + sorted(self.nodes.difference(self.configured))

    def set_nodes(self, origins: Iterable[str]) -> None:
        """The running nodes' origins now (the old ones no longer listed are no longer allowed)."""
        self.nodes = frozenset(origins)
        if self._table is None or self._options is None:
            return
        for origin in self.nodes.difference(self._table):
            self._table[origin] = self._options
        for origin in [o for o in self._table if o not in self.nodes and o not in self.configured]:
            del self._table[origin]

    def attach(self, table: MutableMapping[str, Any], options: aiohttp_cors.ResourceOptions) -> None:
        self._table, self._options = table, options
        self.set_nodes(self.nodes)


def setup_cors(app: web.Application, origins: CorsOrigins, cluster: bool = False) -> None:
    """Allow `origins` ("*" for any) on every route; nothing when none is configured and this is no
    cluster node (a node's list grows with the nodes that register)."""
    if not origins.configured and not cluster:
        return
    options = aiohttp_cors.ResourceOptions(
        allow_credentials=False, expose_headers=EXPOSED, allow_headers=ALLOWED_HEADERS, max_age=MAX_AGE_S,
        allow_methods=list(ALLOWED_METHODS),
    )
    cors = aiohttp_cors.setup(app, defaults={origin: options for origin in origins.configured})
    # aiohttp-cors reads this very dict (CorsConfig.defaults) on every request: the nodes' origins
    # are added to and removed from it as they come and go.
    origins.attach(cors.defaults, options)
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
