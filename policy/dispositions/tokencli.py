"""`pantau token verify TOKEN`: check a disposition token offline, with the public key only."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from core.errors import PantauError
from policy.dispositions import tokens
from policy.dispositions.tokenkeys import load_public_key
from policy.dispositions.tokens import DispositionClaims, TokenRejected


def describe(claims: DispositionClaims) -> list[str]:
    """The claims, one `name: value` line each, for people."""
    return [
        f"id: {claims.token_id}",
        f"request: {claims.request_id}",
        f"grantee: {claims.grantee} ({claims.organisation})",
        f"purpose: {claims.purpose}",
        f"cameras: {', '.join(claims.cameras)}",
        f"window: {claims.start.isoformat()} .. {claims.end.isoformat()}",
        f"letter sha256: {claims.letter_sha256}",
        f"approved by: {', '.join(claims.approvers)}",
        f"valid: {claims.not_before.isoformat()} .. {claims.expires.isoformat()}",
        f"max views: {claims.max_views}",
    ]


def verify_offline(token: str, public_key_path: Path, now: datetime) -> tuple[DispositionClaims, str | None]:
    """(claims, problem) where problem is None when signature and time are good at `now`."""
    claims = tokens.verify(token.strip(), load_public_key(public_key_path))
    if now < claims.not_before:
        return claims, "not valid yet"
    if now >= claims.expires:
        return claims, "expired"
    return claims, None


def verify_token_cli(
    token: str, public_key_path: Path, now: datetime | None = None, out: TextIO | None = None
) -> int:
    """Print the token's claims and verdict; 0 when valid now, 1 otherwise (views and revocation are server state)."""
    out = out or sys.stdout
    try:
        claims, problem = verify_offline(token, public_key_path, now or datetime.now(UTC))
    except TokenRejected as exc:
        print(f"INVALID: {exc.reason.value}: {exc.detail}", file=out)
        return 1
    except (OSError, PantauError) as exc:
        print(f"pantau: cannot read public key {public_key_path}: {exc}", file=out)
        return 1
    for line in describe(claims):
        print(line, file=out)
    if problem is not None:
        print(f"INVALID: signature good, but the token is {problem}", file=out)
        return 1
    print("VALID: signature good and within its validity (views used and revocation are known to the server only)",
          file=out)
    return 0
