"""Typed keys under which the application stores shared objects."""

from __future__ import annotations

from aiohttp import web

from gateway.http.cors import CorsOrigins
from gateway.services import Services

SERVICES = web.AppKey("services", Services)
#: The origins allowed in CORS (configured, and the cluster's nodes as they come and go).
CORS = web.AppKey("cors", CorsOrigins)
