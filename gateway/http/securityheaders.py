"""The security headers on every response of the gateway: pages, API answers, errors, files.

The pages carry the same Content-Security-Policy in a <meta> tag; as a header it also covers
what a meta tag cannot (frame-ancestors, which browsers ignore in <meta>) and every response
that is not a page (a letter or an export opened directly, an error body).
"""

from __future__ import annotations

from aiohttp import web

# The pages' policy (their <meta> tag) plus frame-ancestors: no site may frame the gateway
# (clickjacking a PTZ move or an approval).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self' 'unsafe-inline'; "
    "frame-src blob:; object-src blob:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # A disposition token or a signed link in a URL never leaves in a Referer.
    "Referrer-Policy": "no-referrer",
}


def connecting_to(policy: str, origins: list[str]) -> str:
    """`policy` that also lets the page connect (fetch) to `origins`: the wall of a cluster node
    opens live sessions on the node that ingests a camera."""
    if not origins:
        return policy
    return policy.replace("default-src 'self';", f"default-src 'self'; connect-src 'self' {' '.join(origins)};", 1)


async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)


def setup_security_headers(app: web.Application) -> None:
    """Send HEADERS on every response `app` prepares (a response streamed from a handler too,
    which a middleware would see only after its headers are sent)."""
    app.on_response_prepare.append(_add_headers)
