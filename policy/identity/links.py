"""Signed links: short-lived URLs for players that cannot send an Authorization header.

A link is a compact JWT (HS256, the algorithm pinned) appended to the URL as `link=`. It names who
asked (`sub`: a username, or a disposition token's id for its holder; `kind` says which), the
route (`path`) and the SHA-256 of the rest of the query (`q`), so it opens nothing but the
request it was made for; `exp` is checked against the injected clock, `once` asks the route to
spend it on first use (policy/identity/linkuses.py). Signing and verifying are pure; the key is a
32-byte secret kept owner-only in the data directory, so a restart keeps links valid.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import jwt

from core.sealing import SealingKeyUnusable, load_or_create_key
from core.errors import PantauError

log = logging.getLogger(__name__)

ALGORITHM = "HS256"
AUDIENCE = "pantau-link"
LINK_PARAM = "link"
KEY_NAME = Path("keys") / "link.key"
KEY_BYTES = 32
ID_PREFIX = "lnk_"
# A link holds a few short claims; anything far larger is not ours.
MAX_LINK_CHARS = 2048
REQUIRED = ["aud", "jti", "sub", "exp", "iat"]

LinkKind = Literal["user", "token"]


class KeyUnusable(PantauError):
    title = "Key unusable"
    kind = "key-unusable"


class LinkProblem(enum.StrEnum):
    """Why a link was refused (logged as the reason's code)."""

    MALFORMED = "link_malformed"  # not a link at all: answered 401
    BAD_SIGNATURE = "link_bad_signature"
    EXPIRED = "link_expired"
    WRONG_TARGET = "link_wrong_target"  # made for another route or another query


class LinkRejected(PantauError):
    """A link that does not open this request; `problem` is the stable code, `claims` what the link
    says once its signature verified (None before: unverified claims are not worth logging)."""

    kind = "link-refused"

    def __init__(self, problem: LinkProblem, detail: str, claims: LinkClaims | None = None) -> None:
        super().__init__(detail)
        self.problem = problem
        self.claims = claims


@dataclass(frozen=True, slots=True)
class LinkClaims:
    """What a link says."""

    link_id: str
    subject: str
    kind: LinkKind
    path: str
    query_sha256: str
    issued_at: datetime
    expires: datetime
    once: bool

    def payload(self) -> dict[str, Any]:
        """The JWT claims set."""
        return {"aud": AUDIENCE, "jti": self.link_id, "sub": self.subject, "kind": self.kind, "path": self.path,
                "q": self.query_sha256, "iat": int(self.issued_at.timestamp()), "exp": int(self.expires.timestamp()),
                "once": self.once}


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """The query without `link`, as sorted percent-encoded key=value pairs: the same bytes however
    the client ordered or encoded it."""
    kept = sorted((k, v) for k, v in pairs if k != LINK_PARAM)
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in kept)


def query_digest(pairs: Iterable[tuple[str, str]]) -> str:
    """SHA-256 (hex) of the canonical query."""
    return hashlib.sha256(canonical_query(pairs).encode()).hexdigest()


def new_link_id() -> str:
    """A random link id (fits link_uses.link_id)."""
    return ID_PREFIX + secrets.token_urlsafe(16)


class LinkSigner:
    """Signs and verifies links with one secret key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise KeyUnusable(f"a link key has {KEY_BYTES} bytes, not {len(key)}")
        self._key = key

    def sign(self, claims: LinkClaims) -> str:
        """The compact JWS of `claims`."""
        return jwt.encode(claims.payload(), self._key, algorithm=ALGORITHM)

    def verify(self, link: str, path: str, pairs: Iterable[tuple[str, str]], now: datetime) -> LinkClaims:
        """The claims of `link` when it is ours, unexpired at `now`, and made for `path` with this
        query; LinkRejected otherwise."""
        if not link or len(link) > MAX_LINK_CHARS:
            raise LinkRejected(LinkProblem.MALFORMED, "not a link")
        try:
            header = jwt.get_unverified_header(link)
        except jwt.DecodeError as exc:
            raise LinkRejected(LinkProblem.MALFORMED, "not a link") from exc
        if header.get("alg") != ALGORITHM:
            raise LinkRejected(LinkProblem.MALFORMED, "not a link")
        try:
            # Expiry is checked below against the injected clock, the one that decides everything else.
            payload = jwt.decode(link, self._key, algorithms=[ALGORITHM], audience=AUDIENCE,
                                 options={"require": REQUIRED, "verify_exp": False, "verify_iat": False})
        except jwt.InvalidSignatureError as exc:
            raise LinkRejected(LinkProblem.BAD_SIGNATURE, "the link's signature does not verify") from exc
        except jwt.InvalidTokenError as exc:
            raise LinkRejected(LinkProblem.MALFORMED, "not a link") from exc
        claims = _claims(payload)
        if now >= claims.expires:
            raise LinkRejected(LinkProblem.EXPIRED, "the link has expired", claims)
        if claims.path != path or not secrets.compare_digest(claims.query_sha256, query_digest(pairs)):
            raise LinkRejected(LinkProblem.WRONG_TARGET, "the link was made for another request", claims)
        return claims


def _claims(p: dict[str, Any]) -> LinkClaims:
    try:
        kind = p["kind"]
        if kind not in ("user", "token"):
            raise ValueError("kind")
        values = (p["jti"], p["sub"], p["path"], p["q"])
        if not all(isinstance(v, str) and v for v in values):
            raise TypeError("expected strings")
        if not isinstance(p["once"], bool) or not all(
                isinstance(p[k], int) and not isinstance(p[k], bool) for k in ("iat", "exp")):
            raise TypeError("once, iat, exp")
        return LinkClaims(link_id=p["jti"], subject=p["sub"], kind=kind, path=p["path"], query_sha256=p["q"],
                          issued_at=datetime.fromtimestamp(p["iat"], UTC),
                          expires=datetime.fromtimestamp(p["exp"], UTC), once=p["once"])
    except (KeyError, TypeError, ValueError, OverflowError, OSError) as exc:
        raise LinkRejected(LinkProblem.MALFORMED, "the link's claims are incomplete") from exc


def default_link_key_path(data_dir: Path) -> Path:
    """Where the link key lives."""
    return data_dir / KEY_NAME


def load_or_create_link_key(path: Path) -> bytes:
    """The 32-byte key at `path`, created (mode 0600, directory 0700) if absent (core/sealing.py);
    KeyUnusable when others may read it or it is not 32 bytes."""
    try:
        return load_or_create_key(path, "signed-link")
    except SealingKeyUnusable as exc:
        raise KeyUnusable(str(exc)) from exc
