"""Serves the OpenAPI document (gateway/http/openapi.yaml) as JSON."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

DOCUMENT = Path(__file__).with_name("openapi.yaml")
routes = web.RouteTableDef()


@cache
def document() -> dict[str, Any]:
    """The parsed OpenAPI document."""
    return yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))


@routes.get("/api/v1/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI document."""
    return web.json_response(document())
