"""The OpenAPI document is valid and describes exactly the routes the application serves."""

from __future__ import annotations

import re
from pathlib import Path

from openapi_spec_validator import validate

from gateway.http.openapi import document
from gateway.http.webapp import build_app
from tests.servicesbuilder import built_services


def test_document_is_valid_openapi() -> None:
    validate(document())


async def test_every_route_is_documented_and_every_documented_route_exists(tmp_path: Path) -> None:
    async with built_services(tmp_path) as services:
        app = build_app(services)
    served: set[tuple[str, str]] = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if route.method == "HEAD" or path is None:
            continue
        served.add((route.method.lower(), re.sub(r"\{(\w+)\}", r"{\1}", path)))
    documented = {
        (method, path)
        for path, item in document()["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete", "options"}
    }
    assert served == documented
