"""Signed links, pure: what a link opens, what it refuses, and the key on disk."""

from __future__ import annotations

import base64
import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from policy.identity.links import (
    KeyUnusable, LinkClaims, LinkProblem, LinkRejected, LinkSigner, canonical_query, load_or_create_link_key,
    new_link_id, query_digest,
)

NOW = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
QUERY = [("path", "gate"), ("start", "2026-03-09T13:00:00Z"), ("duration", "60")]


def claims(**change: object) -> LinkClaims:
    base = {"link_id": new_link_id(), "subject": "omar", "kind": "user", "path": "/get",
            "query_sha256": query_digest(QUERY), "issued_at": NOW, "expires": NOW + timedelta(seconds=300),
            "once": True}
    return LinkClaims(**{**base, **change})  # type: ignore[arg-type]


def rejected(signer: LinkSigner, link: str, path: str = "/get", pairs: list[tuple[str, str]] = QUERY,
             now: datetime = NOW) -> LinkProblem:
    with pytest.raises(LinkRejected) as refused:
        signer.verify(link, path, pairs, now)
    return refused.value.problem


def test_a_link_opens_its_request_whatever_the_order_and_the_link_parameter() -> None:
    signer = LinkSigner(os.urandom(32))
    made = claims()
    link = signer.sign(made)
    shuffled = [QUERY[2], ("link", link), QUERY[0], QUERY[1]]
    assert signer.verify(link, "/get", shuffled, NOW + timedelta(seconds=299)) == made
    assert canonical_query(shuffled) == "duration=60&path=gate&start=2026-03-09T13%3A00%3A00Z"


def test_another_camera_window_route_key_or_time_is_refused() -> None:
    key = os.urandom(32)
    signer = LinkSigner(key)
    link = signer.sign(claims())
    other_cam = [("path", "lobby"), *QUERY[1:]]
    longer = [*QUERY[:2], ("duration", "600")]
    assert rejected(signer, link, pairs=other_cam) is LinkProblem.WRONG_TARGET
    assert rejected(signer, link, pairs=longer) is LinkProblem.WRONG_TARGET
    assert rejected(signer, link, pairs=[*QUERY, ("format", "mp4")]) is LinkProblem.WRONG_TARGET
    assert rejected(signer, link, path="/api/v1/exports/exp_1/download") is LinkProblem.WRONG_TARGET
    assert rejected(signer, link, now=NOW + timedelta(seconds=300)) is LinkProblem.EXPIRED
    assert rejected(LinkSigner(os.urandom(32)), link) is LinkProblem.BAD_SIGNATURE
    assert rejected(signer, "garbage") is LinkProblem.MALFORMED


def test_a_changed_claim_or_another_algorithm_is_refused() -> None:
    key = os.urandom(32)
    signer = LinkSigner(key)
    head, body, sig = signer.sign(claims()).split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["sub"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    assert rejected(signer, f"{head}.{forged}.{sig}") is LinkProblem.BAD_SIGNATURE
    unsigned = jwt.encode(claims().payload(), "", algorithm="none")
    assert rejected(signer, unsigned) is LinkProblem.MALFORMED
    other_aud = jwt.encode({**claims().payload(), "aud": "pantau-playback"}, key, algorithm="HS256")
    assert rejected(signer, other_aud) is LinkProblem.MALFORMED
    no_once = {k: v for k, v in claims().payload().items() if k != "once"}
    assert rejected(signer, jwt.encode(no_once, key, algorithm="HS256")) is LinkProblem.MALFORMED


def test_the_key_is_made_once_owner_only_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "link.key"
    key = load_or_create_link_key(path)
    assert len(key) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_link_key(path) == key
    path.chmod(0o644)
    with pytest.raises(KeyUnusable):
        load_or_create_link_key(path)
    path.chmod(0o600)
    path.write_bytes(b"short")
    with pytest.raises(KeyUnusable):
        load_or_create_link_key(path)
