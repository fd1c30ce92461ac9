"""Using a signed link: the routes a link opens (GET /get, GET /api/v1/exports/{id}/download) ask
`link_bearer` who the link speaks for; links are made by POST /api/v1/links (gateway/http/links.py).

A link carries the authority of who asked for it, never more: the user must still exist and be
enabled and the route decides again now as that user (guard.authorize(..., as_user=)); a token
holder's link stands while the token is not revoked. A one-time link opens exactly one request
(policy/identity/linkuses.py): the first wins, every later one is refused and logged. Chromium's
`<video>` plays /get from one request (it answers without ranges), so a one-time link is one
playback; a resumable download (Range) needs a time-limited link instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

from core.errors import Forbidden, Unauthorized
from gateway.http.appkeys import SERVICES
from gateway.http.guard import authorize
from policy.audit.entries import AccessAction, AccessEvent
from policy.decision import Action
from policy.identity.links import LINK_PARAM, LinkClaims, LinkKind, LinkProblem, LinkRejected
from policy.identity.users import Principal

log = logging.getLogger(__name__)

USED_ALREADY = "this link was used already"


@dataclass(frozen=True, slots=True)
class LinkBearer:
    """Who a verified link speaks for: a user (`principal`) or a disposition token's holder (`token_id`)."""

    link_id: str
    kind: LinkKind
    principal: Principal | None
    token_id: str | None
    once: bool

    @property
    def actor(self) -> str:
        """The name for the access log: the username, or the token's id."""
        return self.principal.username if self.principal is not None else f"token:{self.token_id}"


async def link_bearer(request: web.Request, path: str) -> LinkBearer | None:
    """The bearer of the request's `?link=` made for `path` (with exactly this query), or None when
    the request carries no link. Verifies the signature, expiry, route and query, that the user
    still stands (or the token is not revoked) and, for a one-time link, spends it. Logs the use
    (LINK_USED); every refusal is logged and raised: 401 for what is no link at all, 403 otherwise."""
    raw = request.query.get(LINK_PARAM)
    if raw is None:
        return None
    services = request.app[SERVICES]
    client = request.remote or ""
    try:
        claims = services.links.verify(raw, path, request.query.items(), services.clock.now())
    except LinkRejected as refused:
        said = refused.claims
        await _record(request, None, "deny", f"{refused.problem.value}: {refused.detail}",
                      link_id=said.link_id if said else None, actor=_actor(said) if said else None)
        if refused.problem is LinkProblem.MALFORMED:
            raise Unauthorized(refused.detail) from refused
        raise Forbidden(refused.detail) from refused
    bearer = await _bearer(request, claims)
    if claims.once and not await services.link_uses.spend(claims.link_id, bearer.actor, client):
        await _record(request, bearer, "deny", USED_ALREADY)
        raise Forbidden(USED_ALREADY)
    await _record(request, bearer, "ok", "")
    return bearer


def _actor(claims: LinkClaims) -> str:
    """Who a link names, as the access log writes it."""
    return claims.subject if claims.kind == "user" else f"token:{claims.subject}"


async def _bearer(request: web.Request, claims: LinkClaims) -> LinkBearer:
    """Who the claims name, as they stand now; 403 (logged) when that authority is gone."""
    services = request.app[SERVICES]
    if claims.kind == "user":
        who = await services.users.enabled(claims.subject)
        bearer = LinkBearer(claims.link_id, "user", who, None, claims.once)
        if who is None:
            reason = "the link's user no longer exists or is disabled"
            await _record(request, bearer, "deny", reason, actor=claims.subject)
            raise Forbidden(reason)
        return bearer
    bearer = LinkBearer(claims.link_id, "token", None, claims.subject, claims.once)
    revoked = await services.dispositions.revocation(claims.subject)
    if revoked is not None:
        await _record(request, bearer, "deny", revoked)
        raise Forbidden(f"the link's disposition token no longer stands: {revoked}")
    return bearer


async def _record(
    request: web.Request, bearer: LinkBearer | None, outcome: str, reason: str, *,
    link_id: str | None = None, actor: str | None = None,
) -> None:
    """One LINK_USED entry: the link id (only once its signature verified), the route, the client."""
    who = bearer.principal if bearer is not None else None
    await request.app[SERVICES].access_log.record(AccessEvent(
        AccessAction.LINK_USED,
        actor=actor or (bearer.actor if bearer is not None else None),
        role=who.role if who is not None else None,
        client=request.remote,
        outcome="ok" if outcome == "ok" else "deny",
        reason=reason,
        token_id=bearer.token_id if bearer is not None else None,
        details={"link_id": bearer.link_id if bearer is not None else link_id, "route": request.path,
                 "once": bearer.once if bearer is not None else None},
    ))


async def allow_export_download(request: web.Request, bearer: LinkBearer, requested_by: str,
                                token_id: str | None) -> None:
    """For GET /api/v1/exports/{id}/download with a link: the link's user may still read the job
    (READ_EXPORTS, owner = its requester; decided again now, a refusal logged, 403), or the
    link's token made the job."""
    if bearer.principal is not None:
        await authorize(request, Action.READ_EXPORTS, owner=requested_by, as_user=bearer.principal)
        return
    if token_id is None or token_id != bearer.token_id:
        reason = "the export job was not made with the link's disposition token"
        await _record(request, bearer, "deny", reason)
        raise Forbidden(reason)
