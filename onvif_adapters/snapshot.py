"""Fetch a camera's own JPEG snapshot (GetSnapshotUri): auth, timeout, size cap, JPEG check.

Not onvif-zeep-async's get_snapshot: its TLS context does not verify certificates
(onvif-zeep-async 3.x). Cameras protect the URI with HTTP Digest or Basic auth; we ask without
credentials first and answer the challenge the camera sends, so a password never goes
out in Basic form to a camera that asked for Digest.
"""

from __future__ import annotations

import base64
import logging

import aiohttp

from core.redact import redact_url

log = logging.getLogger(__name__)

JPEG_START = b"\xff\xd8\xff"


class SnapshotFailed(Exception):
    """Why a snapshot could not be had (the caller falls back to the keyframe)."""


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise SnapshotFailed(f"snapshot of {declared} bytes is over the {max_bytes} byte limit")
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > max_bytes:
            raise SnapshotFailed(f"snapshot is over the {max_bytes} byte limit")
    return bytes(body)


async def fetch_snapshot(
    uri: str, user: str | None, password: str | None, timeout_s: float, max_bytes: int
) -> bytes:
    """The JPEG at `uri`; raises SnapshotFailed with a reason (never the password)."""
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    where = redact_url(uri)
    if not uri.lower().startswith(("http://", "https://")):
        raise SnapshotFailed(f"{where}: not an http(s) snapshot URI")
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(uri, allow_redirects=False) as response:
                challenge = response.headers.get("WWW-Authenticate", "")
                if response.status != 401:
                    return _check(response.status, await _read_capped(response, max_bytes), where)
            if not user:
                raise SnapshotFailed(f"{where}: the camera asks for credentials and none are configured")
            if challenge.lower().startswith("digest"):
                digest = aiohttp.DigestAuthMiddleware(user, password or "")
                async with aiohttp.ClientSession(timeout=timeout, middlewares=(digest,)) as digest_session:
                    async with digest_session.get(uri, allow_redirects=False) as response:
                        return _check(response.status, await _read_capped(response, max_bytes), where)
            basic = base64.b64encode(f"{user}:{password or ''}".encode()).decode("ascii")
            headers = {"Authorization": f"Basic {basic}"}
            async with session.get(uri, headers=headers, allow_redirects=False) as response:
                return _check(response.status, await _read_capped(response, max_bytes), where)
    except TimeoutError as exc:
        raise SnapshotFailed(f"{where}: no snapshot within {timeout_s:g} s") from exc
    except aiohttp.ClientError as exc:
        raise SnapshotFailed(f"{where}: {type(exc).__name__}") from exc


def _check(status: int, body: bytes, where: str) -> bytes:
    if status in (401, 403):
        raise SnapshotFailed(f"{where}: credentials refused (HTTP {status})")
    if status != 200:
        raise SnapshotFailed(f"{where}: HTTP {status}")
    if not body.startswith(JPEG_START):
        raise SnapshotFailed(f"{where}: not a JPEG")
    return body
