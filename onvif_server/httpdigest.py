"""HTTP authentication of the snapshot URLs handed out by GetSnapshotUri: Digest (RFC 7616, MD5 with
qop=auth, what onvif-zeep-async and cameras' clients speak) or Basic, against the integrator accounts.

Nonces are stateless: the issue time and an HMAC of it under a per-process key, valid `NONCE_TTL_S`. A
nonce is not bound to a request count, so a captured Authorization header can be replayed for the
same URL until its nonce expires: it shows one JPEG of one camera to whoever captured the header, which
a captured Basic header would show forever.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core.clock import Clock

REALM = "Pantau ONVIF"
NONCE_TTL_S = 300.0
_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


class HttpAuthRefused(Exception):
    """Credentials that do not hold; `username` if they named one (None: none given, just challenge)."""

    def __init__(self, reason: str, username: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.username = username


@dataclass(frozen=True)
class DigestAuth:
    """Checks Authorization headers and makes challenges."""

    clock: Clock
    password_of: Callable[[str], Awaitable[str | None]]
    key: bytes = b""

    @staticmethod
    def create(clock: Clock, password_of: Callable[[str], Awaitable[str | None]]) -> DigestAuth:
        """With a fresh per-process nonce key."""
        return DigestAuth(clock, password_of, secrets.token_bytes(32))

    def _nonce(self, issued: int) -> str:
        mac = hmac.new(self.key, str(issued).encode(), hashlib.sha256).hexdigest()[:32]
        return base64.b64encode(f"{issued}:{mac}".encode()).decode()

    def challenge(self, stale: bool = False) -> str:
        """A WWW-Authenticate value offering Digest (Basic is taken too, but not offered)."""
        nonce = self._nonce(int(self.clock.monotonic()))
        return (f'Digest realm="{REALM}", qop="auth", algorithm=MD5, nonce="{nonce}"'
                + (", stale=true" if stale else ""))

    def _fresh(self, nonce: str) -> bool:
        try:
            issued_text, mac = base64.b64decode(nonce, validate=True).decode().split(":", 1)
            issued = int(issued_text)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return False
        expected = self._nonce(issued)
        return hmac.compare_digest(expected, nonce) and 0 <= self.clock.monotonic() - issued <= NONCE_TTL_S and bool(mac)

    async def check(self, header: str | None, method: str, uri: str) -> str:
        """The username of valid credentials in `header`, or HttpAuthRefused."""
        if not header:
            raise HttpAuthRefused("no credentials")
        scheme, _, rest = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                username, _, password = base64.b64decode(rest.strip(), validate=True).decode().partition(":")
            except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
                raise HttpAuthRefused("malformed Basic credentials") from exc
            known = await self.password_of(username)
            if known is None or not hmac.compare_digest(known.encode(), password.encode()):
                raise HttpAuthRefused("wrong username or password (Basic)", username)
            return username
        if scheme.lower() != "digest":
            raise HttpAuthRefused(f"unsupported scheme {scheme[:16]!r}")
        params = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3) for m in _PARAM.finditer(rest)}
        username = params.get("username", "")
        if params.get("realm") != REALM or params.get("uri") != uri or params.get("qop") != "auth":
            raise HttpAuthRefused("Digest parameters do not match this request", username or None)
        if params.get("algorithm", "MD5").upper() != "MD5":
            raise HttpAuthRefused("only MD5 Digest is offered", username or None)
        if not self._fresh(params.get("nonce", "")):
            raise HttpAuthRefused("stale nonce")  # not a failure: the client retries with a new one
        known = await self.password_of(username)
        if known is None:
            raise HttpAuthRefused("no enabled integrator account by that name", username)
        ha1 = hashlib.md5(f"{username}:{REALM}:{known}".encode()).hexdigest()
        ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
        expected = hashlib.md5(
            f"{ha1}:{params['nonce']}:{params.get('nc', '')}:{params.get('cnonce', '')}:auth:{ha2}".encode()).hexdigest()
        if not hmac.compare_digest(expected, params.get("response", "")):
            raise HttpAuthRefused("wrong password (Digest)", username)
        return username
