"""WS-Security UsernameToken (OASIS WSS UsernameToken Profile 1.0), as ONVIF clients send it.

PasswordDigest is Base64(SHA-1(nonce + created + password)); PasswordText carries the password
itself and is checked the same way (constant-time). A token is taken when its Created lies within
`clock_skew_s` of our clock and its nonce was not seen before within that time. The nonces seen are
kept in memory, per process, at most `MAX_NONCES` of them (oldest forgotten first): a replay is
caught as long as the token is young enough to pass the Created check and the cache has not been
flooded past its bound; a restart forgets them, which the Created window bounds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from lxml import etree

from core.clock import Clock
from core.utctime import parse_rfc3339
from onvif_server.soap import WSSE, WSU

PASSWORD_DIGEST = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
PASSWORD_TEXT = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
MAX_NONCES = 50_000


class TokenRefused(Exception):
    """The token is missing, malformed, stale, replayed or does not match; `username` if it named one."""

    def __init__(self, reason: str, username: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.username = username


@dataclass(frozen=True)
class UsernameToken:
    """The fields of a wsse:UsernameToken."""

    username: str
    password: str
    digest: bool
    nonce: bytes
    created: datetime | None


def read_token(security: etree._Element | None) -> UsernameToken:
    """The UsernameToken in a wsse:Security header, or TokenRefused."""
    if security is None:
        raise TokenRefused("no WS-Security header")
    token = security.find(f"{{{WSSE}}}UsernameToken")
    if token is None:
        raise TokenRefused("no UsernameToken in the WS-Security header")
    username = (token.findtext(f"{{{WSSE}}}Username") or "").strip()
    password_node = token.find(f"{{{WSSE}}}Password")
    if not username or password_node is None:
        raise TokenRefused("the UsernameToken lacks a username or a password", username or None)
    kind = password_node.get("Type", PASSWORD_TEXT)
    if kind not in (PASSWORD_DIGEST, PASSWORD_TEXT):
        raise TokenRefused(f"unknown password type {kind[-40:]!r}", username)
    nonce_text = (token.findtext(f"{{{WSSE}}}Nonce") or "").strip()
    created_text = (token.findtext(f"{{{WSU}}}Created") or "").strip()
    try:
        nonce = base64.b64decode(nonce_text, validate=True) if nonce_text else b""
        created = parse_rfc3339(created_text) if created_text else None
    except ValueError as exc:
        raise TokenRefused(f"malformed Nonce or Created: {exc}", username) from exc
    return UsernameToken(username, (password_node.text or "").strip(), kind == PASSWORD_DIGEST, nonce, created)


def password_digest(nonce: bytes, created: str, password: str) -> str:
    """Base64(SHA-1(nonce + created + password)), as the client computes it."""
    return base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()


class TokenChecker:
    """Checks UsernameTokens against the integrator accounts' passwords, with a replay cache."""

    def __init__(self, clock: Clock, skew_s: float, password_of: Callable[[str], Awaitable[str | None]]) -> None:
        self._clock = clock
        self._skew = timedelta(seconds=skew_s)
        self._password_of = password_of
        self._nonces: OrderedDict[bytes, datetime] = OrderedDict()

    async def check(self, security: etree._Element | None) -> str:
        """The username of a valid token, or TokenRefused with the reason (for the log, not the client)."""
        token = read_token(security)
        now = self._clock.now()
        if token.digest or token.created is not None:
            if token.created is None or not token.nonce:
                raise TokenRefused("a digest token needs a Nonce and a Created", token.username)
            if abs(now - token.created) > self._skew:
                raise TokenRefused(
                    f"Created is {(token.created - now).total_seconds():+.0f} s from the server's clock "
                    f"(tolerance {self._skew.total_seconds():.0f} s)", token.username)
        password = await self._password_of(token.username)
        if password is None:
            raise TokenRefused("no enabled integrator account by that name", token.username)
        if token.digest:
            created_text = self._created_text(security)
            expected = password_digest(token.nonce, created_text, password)
            matches = hmac.compare_digest(expected.encode(), token.password.encode())
        else:
            matches = hmac.compare_digest(password.encode(), token.password.encode())
        if not matches:
            raise TokenRefused("wrong password", token.username)
        if token.nonce:
            self._use_nonce(token.nonce, token.username, now)
        return token.username

    def _use_nonce(self, nonce: bytes, username: str, now: datetime) -> None:
        key = hashlib.sha256(username.encode() + b"\0" + nonce).digest()
        while self._nonces:
            oldest, seen = next(iter(self._nonces.items()))
            if now - seen <= 2 * self._skew and len(self._nonces) < MAX_NONCES:
                break
            self._nonces.pop(oldest)
        if key in self._nonces:
            raise TokenRefused("the nonce was used before (a replayed token)", username)
        self._nonces[key] = now

    @staticmethod
    def _created_text(security: etree._Element | None) -> str:
        # The digest covers Created exactly as sent, not as we parse and print it.
        assert security is not None
        return (security.findtext(f"{{{WSSE}}}UsernameToken/{{{WSU}}}Created") or "").strip()
