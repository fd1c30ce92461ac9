"""Typed keys under which the application stores shared objects."""

from __future__ import annotations

from aiohttp import web

from gateway.services import Services

SERVICES = web.AppKey("services", Services)
