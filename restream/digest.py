"""RTSP Digest access authentication (RFC 2617, as RTSP 1.0 clients speak it; MD5): the challenge,
the server's own nonces, and the check of a client's answer. Pure but for the nonce book's clock."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

REALM = "Pantau"
# A nonce lives this long: long enough for a client's whole session set-up (several requests with
# the same nonce), short enough that a captured one soon stops being worth replaying. A client
# that comes back later gets `stale=true` and answers again without asking its user.
NONCE_TTL_S = 300.0
# Issued nonces kept at most; the oldest go first (a flood of unauthenticated requests cannot
# grow memory). 4096 covers far more than max_clients' set-ups within NONCE_TTL_S.
MAX_NONCES = 4096
# A header this long is no Digest answer (it would be a few hundred bytes).
MAX_HEADER = 4096

_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))\s*,?')


@dataclass(frozen=True, slots=True)
class DigestAnswer:
    """The fields of an `Authorization: Digest ...` header that the check uses."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    algorithm: str | None = None


def parse_authorization(header: str | None) -> DigestAnswer | None:
    """The Digest answer in `header`; None when there is none, it is another scheme or malformed."""
    if header is None or len(header) > MAX_HEADER:
        return None
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        match = _PARAM.match(rest, pos)
        if match is None or match.end() == pos:
            return None
        value = match.group(2) if match.group(2) is not None else match.group(3)
        params[match.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
        pos = match.end()
    try:
        return DigestAnswer(
            username=params["username"], realm=params["realm"], nonce=params["nonce"], uri=params["uri"],
            response=params["response"].lower(), qop=params.get("qop"), nc=params.get("nc"),
            cnonce=params.get("cnonce"), algorithm=params.get("algorithm"),
        )
    except KeyError:
        return None


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - RTSP Digest is MD5 by definition


def expected_response(answer: DigestAnswer, method: str, password: str) -> str:
    """The response a client knowing `password` sends for `method` (RFC 2617 3.2.2.1: with qop=auth,
    or the RFC 2069 form without qop that ffmpeg and most cameras' clients use)."""
    ha1 = _md5(f"{answer.username}:{answer.realm}:{password}")
    ha2 = _md5(f"{method}:{answer.uri}")
    if answer.qop == "auth":
        return _md5(f"{ha1}:{answer.nonce}:{answer.nc}:{answer.cnonce}:{answer.qop}:{ha2}")
    return _md5(f"{ha1}:{answer.nonce}:{ha2}")


def response_matches(answer: DigestAnswer, method: str, password: str) -> bool:
    """Whether the client's response proves it knows `password` (compared in constant time)."""
    if answer.qop not in (None, "auth") or (answer.algorithm or "MD5").upper() != "MD5":
        return False
    if answer.qop == "auth" and (answer.nc is None or answer.cnonce is None):
        return False
    return hmac.compare_digest(expected_response(answer, method, password), answer.response)


class NonceState:
    """What the book knows of a nonce a client sent back."""

    FRESH = "fresh"
    STALE = "stale"  # ours, but expired: challenge again with stale=true
    UNKNOWN = "unknown"


class NonceBook:
    """The nonces this server issued, with their age; safe to use from several threads."""

    def __init__(self, ttl_s: float = NONCE_TTL_S, limit: int = MAX_NONCES,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_s
        self._limit = limit
        self._now = monotonic
        self._issued: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def issue(self) -> str:
        """A new nonce, remembered."""
        nonce = secrets.token_hex(16)
        with self._lock:
            self._issued[nonce] = self._now()
            while len(self._issued) > self._limit:
                self._issued.popitem(last=False)
        return nonce

    def state(self, nonce: str) -> str:
        """FRESH when issued here within the TTL, STALE when issued but expired, else UNKNOWN."""
        with self._lock:
            issued = self._issued.get(nonce)
            if issued is None:
                return NonceState.UNKNOWN
            if self._now() - issued > self._ttl:
                del self._issued[nonce]
                return NonceState.STALE
            return NonceState.FRESH


def challenge(nonce: str, stale: bool = False) -> str:
    """The WWW-Authenticate value of a 401."""
    return f'Digest realm="{REALM}", nonce="{nonce}", algorithm=MD5' + (", stale=TRUE" if stale else "")
