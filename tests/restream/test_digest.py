"""RTSP Digest: RFC 2617's own example, the RFC 2069 form ffmpeg sends, parsing, and the nonce book."""

from __future__ import annotations

from dataclasses import replace

import pytest

from restream.digest import (
    DigestAnswer,
    NonceBook,
    NonceState,
    challenge,
    expected_response,
    parse_authorization,
    response_matches,
)

# RFC 2617 section 3.5.
RFC2617 = ('Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
           'uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", '
           'response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"')


def test_rfc2617_example_vector() -> None:
    answer = parse_authorization(RFC2617)
    assert answer is not None
    assert (answer.username, answer.qop, answer.nc, answer.cnonce) == ("Mufasa", "auth", "00000001", "0a4f113b")
    assert response_matches(answer, "GET", "Circle Of Life")
    assert not response_matches(answer, "GET", "Circle of Life")
    assert not response_matches(answer, "POST", "Circle Of Life")


def test_rfc2069_form_without_qop() -> None:
    base = DigestAnswer("nvr", "Pantau", "abc", "rtsp://127.0.0.1:8554/cam", "")
    answer = replace(base, response=expected_response(base, "DESCRIBE", "pw"))
    assert response_matches(answer, "DESCRIBE", "pw")
    assert not response_matches(answer, "SETUP", "pw")
    header = (f'Digest username="nvr", realm="Pantau", nonce="abc", uri="rtsp://127.0.0.1:8554/cam", '
              f'response="{answer.response.upper()}"')
    parsed = parse_authorization(header)
    assert parsed is not None and response_matches(parsed, "DESCRIBE", "pw")


@pytest.mark.parametrize("header", [
    None, "", "Basic bnZyOnB3", "Digest", 'Digest username="nvr"', 'Digest username="nvr", realm=',
    'Digest username="a" realm="b" nonce="c" uri="d" response="e" ' + "x" * 5000,
])
def test_malformed_or_other_schemes_are_no_answer(header: str | None) -> None:
    assert parse_authorization(header) is None


def test_an_answer_with_another_algorithm_or_qop_fails() -> None:
    base = DigestAnswer("nvr", "Pantau", "abc", "/cam", "")
    good = expected_response(base, "PLAY", "pw")
    assert not response_matches(replace(base, response=good, algorithm="SHA-256"), "PLAY", "pw")
    assert not response_matches(replace(base, response=good, qop="auth-int"), "PLAY", "pw")
    assert not response_matches(replace(base, response=good, qop="auth"), "PLAY", "pw")


def test_nonces_are_ours_fresh_then_stale_and_bounded() -> None:
    now = [0.0]
    book = NonceBook(ttl_s=10, limit=3, monotonic=lambda: now[0])
    first = book.issue()
    assert book.state(first) == NonceState.FRESH
    assert book.state("f" * 32) == NonceState.UNKNOWN
    now[0] = 11
    assert book.state(first) == NonceState.STALE
    assert book.state(first) == NonceState.UNKNOWN  # forgotten once reported stale
    issued = [book.issue() for _ in range(4)]
    assert book.state(issued[0]) == NonceState.UNKNOWN  # the oldest went first
    assert all(book.state(n) == NonceState.FRESH for n in issued[1:])
    assert challenge("n1") == 'Digest realm="Pantau", nonce="n1", algorithm=MD5'
    assert challenge("n1", stale=True).endswith(", stale=TRUE")
