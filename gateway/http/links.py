"""Making signed links: POST /api/v1/links turns a URL of /get or of an export's download into a
short-lived one that needs no header (`&link=`), for a `<video>` element, VLC or a browser tab.

The asker must be allowed the target now, by the same checks as the target itself: for /get the
camera is visible and `Action.EXPORT` is allowed on it and the window; for an export's download
`Action.READ_EXPORTS` with the job's requester as owner, or, for a disposition token's holder, the
job was made with that token. Using a link is gateway/http/linkbearer.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from aiohttp import web
from yarl import URL

from core.errors import BadRequest, Forbidden, NotFound, Unauthorized
from evidence.models import ExportJob
from gateway.http.urls import absolute
from gateway.http.appkeys import SERVICES
from gateway.http.auth import EXPORT_DOWNLOAD, GET_ROUTE, disposition_token, signed_in
from gateway.http.body import read_json
from gateway.http.downloads import WATERMARK_REFUSAL, authorize_get, get_target
from gateway.http.guard import authorize
from gateway.http.views import iso
from policy.audit.entries import AccessAction, AccessEvent, Scalar
from policy.decision import Action, ObligationKind, Reason
from policy.dispositions.tokens import TokenRejected
from policy.identity.links import LINK_PARAM, LinkClaims, LinkKind, new_link_id, query_digest

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

# A disposition token's refusals that mean "this is no token of ours" (401 like any unknown bearer).
_NOT_A_TOKEN = frozenset({Reason.TOKEN_MALFORMED, Reason.TOKEN_BAD_SIGNATURE, Reason.TOKEN_UNKNOWN})


@dataclass(frozen=True, slots=True)
class _Asker:
    """Who asks for a link: a user, or a disposition token's holder (`token_id`, `token_expires`)."""

    subject: str
    kind: LinkKind
    role: str | None = None
    token_id: str | None = None
    token_expires: datetime | None = None


@routes.post("/api/v1/links")
async def create_link(request: web.Request) -> web.Response:
    """{"url","once","ttl_s"} -> 201 {"url" (absolute, with &link=), "expires_at", "once", "id"}."""
    services = request.app[SERVICES]
    rules = services.settings.access.links
    body = await read_json(request, max_bytes=8192)
    raw, once, ttl_s = body.get("url"), body.get("once", False), body.get("ttl_s", rules.default_ttl_s)
    if not isinstance(raw, str) or not raw:
        raise BadRequest("url is required: /get?path=…&start=…&duration=… or /api/v1/exports/{id}/download")
    if not isinstance(once, bool):
        raise BadRequest("once must be true or false")
    if not isinstance(ttl_s, int) or isinstance(ttl_s, bool) or not 1 <= ttl_s <= rules.max_ttl_s:
        raise BadRequest(f"ttl_s must be a whole number of seconds from 1 to {rules.max_ttl_s} (access.links.max_ttl_s)")
    try:
        target = URL(raw)
    except ValueError as exc:
        raise BadRequest("url is not a URL") from exc
    if LINK_PARAM in target.query:
        raise BadRequest("url carries a link already")
    token = disposition_token(request)
    asker = await _token_holder(request, token) if token is not None else None
    event: dict[str, Any]
    if target.path == GET_ROUTE:
        event = await _allow_get(request, target, asker)
    elif (match := EXPORT_DOWNLOAD.fullmatch(target.path)) is not None:
        event = await _allow_download(request, match.group(1), asker)
    else:
        raise BadRequest("url must be /get?… or /api/v1/exports/{id}/download")
    if asker is None:
        who = signed_in(request)
        asker = _Asker(who.username, "user", who.role)
    now = services.clock.now().replace(microsecond=0)
    expires = now + timedelta(seconds=ttl_s)
    if asker.token_expires is not None:
        expires = min(expires, asker.token_expires)  # a link never outlives the token behind it
    pairs = list(target.query.items())
    claims = LinkClaims(new_link_id(), asker.token_id or asker.subject, asker.kind, target.path, query_digest(pairs),
                        now, expires, once)
    link = services.links.sign(claims)
    url = absolute(request, target.path, [*pairs, (LINK_PARAM, link)])
    details: dict[str, Scalar] = {"link_id": claims.link_id, "target": target.path, "once": once,
                                  "expires_at": iso(expires), "kind": asker.kind, **event.pop("details", {})}
    await services.access_log.record(AccessEvent(
        AccessAction.LINK_ISSUED, actor=asker.subject, role=asker.role, client=request.remote,
        token_id=asker.token_id, details=details, **event))
    log.info("link %s issued to %s for %s (once=%s, until %s)", claims.link_id, asker.subject, target.path, once,
             iso(expires))
    return web.json_response({"url": url, "expires_at": iso(expires), "once": once, "id": claims.link_id},
                             status=201, headers={"Cache-Control": "no-store"})


async def _allow_get(request: web.Request, target: URL, asker: _Asker | None) -> dict[str, Any]:
    """The checks of /get itself for the target's camera and window; what the issue entry names."""
    if asker is not None:
        await _refuse(request, asker, "a disposition token's holder may link an export's download only")
    get = get_target(request, target.query)
    _, who, decision = await authorize_get(request, get)
    if decision.obligation(ObligationKind.WATERMARK) is not None:
        await _refuse(request, _Asker(who.username, "user", who.role), WATERMARK_REFUSAL, camera=get.camera_id)
    return {"camera": get.camera_id, "start": get.start, "end": get.end, "details": {"format": get.fmt.value}}


async def _allow_download(request: web.Request, job_id: str, asker: _Asker | None) -> dict[str, Any]:
    """Whoever may read the job (READ_EXPORTS, owner = its requester), or the token that made it."""
    async with request.app[SERVICES].db() as session:
        job = await session.get(ExportJob, job_id)
    if job is None:
        raise NotFound(f"no export job {job_id!r}")
    if asker is not None:
        if job.token_id != asker.token_id:
            await _refuse(request, asker, "the export job was not made with this disposition token")
    else:
        await authorize(request, Action.READ_EXPORTS, owner=job.requested_by)
    return {"request_id": job.request_id, "details": {"job_id": job.id}}


async def _token_holder(request: web.Request, token: str) -> _Asker:
    """A disposition token's holder: the token stands (DispositionService.check_token: signature,
    not revoked, within its validity; a refusal is logged there)."""
    services = request.app[SERVICES]
    try:
        claims = await services.dispositions.check_token(token, request.remote or "")
    except TokenRejected as refused:
        if refused.reason in _NOT_A_TOKEN:
            raise Unauthorized("the bearer token is unknown, expired or revoked") from refused
        raise
    return _Asker(f"token:{claims.token_id}", "token", token_id=claims.token_id, token_expires=claims.expires)


async def _refuse(request: web.Request, asker: _Asker, reason: str, camera: str | None = None) -> NoReturn:
    """Log a refused link and answer 403."""
    await request.app[SERVICES].access_log.record(AccessEvent(
        AccessAction.LINK_ISSUED, actor=asker.subject, role=asker.role, client=request.remote, camera=camera,
        outcome="deny", reason=reason, token_id=asker.token_id, details={"route": request.path}))
    raise Forbidden(reason)
