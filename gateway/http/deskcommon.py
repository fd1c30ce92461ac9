"""What the shift desk's routes share: the acting operator, the cameras as the server sees them now,
which records a caller may read, and printed reports as responses."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from aiohttp import web

from core.errors import BadRequest, Conflict
from policy.audit.records import Actor
from desk.service import Desk
from desk.shifts import Shift
from gateway.http.appkeys import SERVICES
from gateway.http.guard import decision_for
from gateway.http.views import camera_summary
from policy.decision import Action
from policy.identity.users import Principal

LANGUAGES = ("id", "en")


def desk(request: web.Request) -> Desk:
    """The shift desk the gateway built."""
    return request.app[SERVICES].desk


def actor(request: web.Request, who: Principal) -> Actor:
    """The signed-in user as the desk records them."""
    return Actor(who.username, who.role, request.remote)


def visible_summaries(request: web.Request, who: Principal) -> list[dict[str, Any]]:
    """Every camera the caller may see, with its state and figures now (taken by the server)."""
    services = request.app[SERVICES]
    now = services.clock.monotonic()
    return [camera_summary(c, now) for c in list(services.cameras.values())
            if decision_for(request, who, Action.VIEW_CAMERA, c).allowed]


def reads_everyones(request: web.Request, who: Principal) -> bool:
    """True when the caller may read other operators' shift records (R14): asked with an owner that
    is nobody's name, so only a reader role is allowed."""
    return decision_for(request, who, Action.READ_SHIFT_RECORDS, owner="").allowed


async def open_shift(request: web.Request, who: Principal) -> Shift:
    """The caller's open shift; 409 when there is none."""
    shift = await desk(request).shifts.open_shift_of(who.username)
    if shift is None:
        raise Conflict("you have no open shift: sign on first (POST /api/v1/shifts)")
    return shift


def language(request: web.Request) -> str:
    """`?lang=id|en`, default the room's (desk.language)."""
    lang = request.query.get("lang") or desk(request).config.language
    if lang not in LANGUAGES:
        raise BadRequest(f"lang must be one of {', '.join(LANGUAGES)}")
    return lang


def pdf_response(pdf: bytes, record: dict[str, Any], name: str) -> web.Response:
    """A printed report; headers carry the record's SHA-256 and the PDF's own digest (RFC 9530)."""
    digest = base64.b64encode(hashlib.sha256(pdf).digest()).decode()
    return web.Response(body=pdf, content_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{name}.pdf"',
        "X-Record-SHA256": str(record["sha256"]),
        "Repr-Digest": f"sha-256=:{digest}:",
        "Cache-Control": "no-store",
    })
