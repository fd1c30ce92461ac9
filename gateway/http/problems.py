"""RFC 9457 problem+json: one middleware maps Pantau errors to HTTP statuses."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from core.errors import PROBLEM_TYPE, PantauError, TooManyRequests, Unavailable

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
# RFC 9457's own members: an error's extension members never replace them.
STANDARD_MEMBERS = frozenset({"type", "title", "status", "detail", "instance"})


# The problem type of an HTTP error no Pantau error class names (aiohttp's own: 404, 405, 413...).
STATUS_KINDS = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
                405: "method-not-allowed", 409: "conflict", 410: "gone", 413: "too-large",
                415: "unsupported-media-type", 422: "unprocessable", 429: "too-many-requests",
                500: "internal-error", 503: "unavailable"}


def problem_type(status: int) -> str:
    """The problem type of a bare HTTP status."""
    kind = STATUS_KINDS.get(status)
    return PROBLEM_TYPE + kind if kind else "about:blank"


def problem(status: int, title: str, detail: str = "", type_: str | None = None, **extra: Any) -> web.Response:
    """A problem+json response; `type_` defaults to the status's problem type."""
    body: dict[str, Any] = {"type": type_ or problem_type(status), "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return web.Response(status=status, text=json.dumps(body), content_type=PROBLEM_JSON)


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn PantauError and aiohttp's HTTP errors into problem+json; log every refusal."""
    try:
        return await handler(request)
    except PantauError as exc:
        if exc.logged_each:
            log.info(
                "refused %s %s: %d %s",
                request.method,
                request.path,
                exc.status,
                exc.detail,
                extra={"client": request.remote},
            )
        members = {k: v for k, v in exc.members().items() if k not in STANDARD_MEMBERS}
        response = problem(exc.status, exc.title, exc.detail, exc.problem_type(), instance=request.path, **members)
        if isinstance(exc, TooManyRequests | Unavailable) and exc.retry_after_s is not None:
            response.headers["Retry-After"] = str(max(1, int(exc.retry_after_s + 0.999)))
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="pantau"'
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        log.info("refused %s %s: %d", request.method, request.path, exc.status)
        response = problem(exc.status, exc.reason, instance=request.path)
        for key in ("Allow",):
            if key in exc.headers:
                response.headers[key] = exc.headers[key]
        return response
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        # A bug or a failing dependency (database down): the details go to the log only,
        # the client gets a problem+json 500 that reveals nothing.
        log.exception("%s %s failed", request.method, request.path)
        return problem(500, "Internal error", "the gateway could not complete this request",
                       instance=request.path)
