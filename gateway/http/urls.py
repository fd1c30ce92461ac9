"""URLs the gateway hands out, built from `server.public_url`: the Host header is the client's to
choose, and an address taken from it would send the next client wherever the first one said."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aiohttp import web
from yarl import URL

from gateway.http.appkeys import SERVICES


def handed_out(request: web.Request, path: str, query: Mapping[str, str] | Sequence[tuple[str, str]]) -> str:
    """`path?query` under `server.public_url`; relative (`/path?query`) when that is unset."""
    base = request.app[SERVICES].settings.server.public_url
    relative = URL.build(path=path).with_query(query)
    return str(URL(base).with_path(path).with_query(query)) if base else str(relative)


def absolute(request: web.Request, path: str, query: Mapping[str, str] | Sequence[tuple[str, str]]) -> str:
    """`path?query` under `server.public_url`; without it, under the origin this request reached.
    For a URL that must be absolute because it is opened elsewhere (a signed link): its asker is
    signed in and gets back the address they reached; set `server.public_url` to stop even that."""
    base = URL(request.app[SERVICES].settings.server.public_url or str(request.url.origin()))
    return str(base.with_path(path).with_query(query))
