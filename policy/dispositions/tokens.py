"""Disposition tokens: JWTs signed with Ed25519, the algorithm pinned to EdDSA (PyJWT)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.errors import Forbidden
from core.utctime import format_utc
from policy.decision import Reason, TokenGrant
from policy.dispositions.tokenkeys import key_id

ALGORITHM = "EdDSA"
ISSUER = "pantau"
AUDIENCE = "pantau-playback"
TOKEN_TYPE = "disposition+jwt"
# A token carries a few cameras and names; anything far larger is not ours.
MAX_TOKEN_CHARS = 8192
REQUIRED = ["iss", "aud", "jti", "sub", "iat", "nbf", "exp"]


class TokenRejected(Forbidden):
    """A disposition token was refused; `reason` is the stable code that is logged."""

    title = "Disposition token refused"
    kind = "token-refused"

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(detail or reason.value)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class DispositionClaims:
    """What a disposition token says. Views used and revocation live on the server only."""

    token_id: str
    request_id: str
    grantee: str
    organisation: str
    cameras: tuple[str, ...]
    start: datetime
    end: datetime
    purpose: str
    letter_sha256: str
    approvers: tuple[str, ...]
    issued_at: datetime
    not_before: datetime
    expires: datetime
    max_views: int
    # Copies (export downloads) management approved; 0 = replay only. Carried as the claim
    # `copies` only when above 0, so a replay-only token signs exactly as before the claim existed.
    copies: int = 0

    def payload(self) -> dict[str, Any]:
        """The JWT claims set."""
        payload: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "jti": self.token_id,
            "rid": self.request_id,
            "sub": self.grantee,
            "org": self.organisation,
            "cams": list(self.cameras),
            "win": {"start": format_utc(self.start), "end": format_utc(self.end)},
            "purpose": self.purpose,
            "letter_sha256": self.letter_sha256,
            "approvers": list(self.approvers),
            "iat": _seconds(self.issued_at),
            "nbf": _seconds(self.not_before),
            "exp": _seconds(self.expires),
            "max_views": self.max_views,
        }
        if self.copies:
            payload["copies"] = self.copies
        return payload

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> DispositionClaims:
        """Claims from a verified payload; TokenRejected(malformed) when a field is missing or wrong."""
        try:
            win = p["win"]
            claims = cls(
                token_id=_str(p["jti"]),
                request_id=_str(p["rid"]),
                grantee=_str(p["sub"]),
                organisation=_str(p["org"]),
                cameras=tuple(_str(c) for c in _list(p["cams"])),
                start=_parse(win["start"]),
                end=_parse(win["end"]),
                purpose=_str(p["purpose"]),
                letter_sha256=_str(p["letter_sha256"]),
                approvers=tuple(_str(a) for a in _list(p["approvers"])),
                issued_at=_from_seconds(p["iat"]),
                not_before=_from_seconds(p["nbf"]),
                expires=_from_seconds(p["exp"]),
                max_views=_int(p["max_views"]),
                copies=_int(p.get("copies", 0)),  # a token from before copies allows none
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TokenRejected(Reason.TOKEN_MALFORMED, "the token's claims are incomplete") from exc
        return claims

    def grant(self, views_used: int = 0, revoked: bool = False, copies_used: int = 0) -> TokenGrant:
        """These claims with the server's state, for the decision function. `views_used` is the
        count that applies (the camera's, or the total: `disposition.views_per`)."""
        return TokenGrant(
            token_id=self.token_id,
            request_id=self.request_id,
            grantee=self.grantee,
            cameras=frozenset(self.cameras),
            start=self.start,
            end=self.end,
            not_before=self.not_before,
            expires=self.expires,
            max_views=self.max_views,
            views_used=views_used,
            revoked=revoked,
            copies=self.copies,
            copies_used=copies_used,
        )


def sign(claims: DispositionClaims, key: Ed25519PrivateKey) -> str:
    """The compact JWS of `claims`."""
    headers = {"typ": TOKEN_TYPE, "kid": key_id(key.public_key())}
    return jwt.encode(claims.payload(), key, algorithm=ALGORITHM, headers=headers)


def verify(token: str, key: Ed25519PublicKey) -> DispositionClaims:
    """Check the signature (EdDSA only) and the shape; time, scope and state are the caller's."""
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenRejected(Reason.TOKEN_MALFORMED, "the token is too long")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError as exc:
        raise TokenRejected(Reason.TOKEN_MALFORMED, "not a disposition token") from exc
    if header.get("alg") != ALGORITHM or header.get("typ") != TOKEN_TYPE:
        raise TokenRejected(Reason.TOKEN_MALFORMED, "not a disposition token")
    try:
        payload = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            # Time is checked against the injected clock by the decision function, so that it
            # is the same clock that decides everything else.
            options={"require": REQUIRED, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
    except jwt.InvalidSignatureError as exc:
        raise TokenRejected(Reason.TOKEN_BAD_SIGNATURE, "the token's signature does not verify") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenRejected(Reason.TOKEN_MALFORMED, "not a valid disposition token") from exc
    return DispositionClaims.from_payload(payload)


def _parse(value: object) -> datetime:
    parsed = datetime.fromisoformat(_str(value))
    if parsed.tzinfo is None:
        raise ValueError("naive time")
    return parsed.astimezone(UTC)


def _seconds(value: datetime) -> int:
    return int(value.timestamp())


def _from_seconds(value: object) -> datetime:
    return datetime.fromtimestamp(_int(value), UTC)


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("expected an integer")
    return value


def _list(value: object) -> list[object]:
    if not isinstance(value, list):
        raise TypeError("expected a list")
    return value
