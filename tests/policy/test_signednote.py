"""C2SP signed notes and checkpoints: interop vectors, tampering, keys on disk."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from policy.audit.signingkey import load_key, load_or_create_key, load_verifier, public_key_pem, public_key_text, signer
from policy.audit.signednote import (
    Checkpoint,
    NoteError,
    NoteSigner,
    NoteVerifier,
    open_checkpoint,
    open_note,
    sign_checkpoint,
)

EM = "\u2014"
# golang.org/x/mod/sumdb/note note_test.go: the PeterNeumann key and note.
GO_SKEY_B64 = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"  # PRIVATE+KEY+PeterNeumann+c74f20a3+...
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = GO_TEXT + f"\n{EM} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
# c2sp.org/signed-note example.
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n"
    f"{EM} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)


def go_signer() -> NoteSigner:
    raw = base64.b64decode(GO_SKEY_B64)
    assert raw[0] == 1
    return NoteSigner("PeterNeumann", Ed25519PrivateKey.from_private_bytes(raw[1:]))


def test_go_vector_signs_byte_for_byte() -> None:
    s = go_signer()
    assert s.vkey() == GO_VKEY
    assert s.sign(GO_TEXT) == GO_NOTE  # Ed25519 is deterministic
    assert open_note(GO_NOTE, NoteVerifier.from_vkey(GO_VKEY)) == GO_TEXT


def test_spec_vector_verifies() -> None:
    v = NoteVerifier.from_vkey(SPEC_VKEY)
    assert v.vkey() == SPEC_VKEY
    assert open_note(SPEC_NOTE, v) == "This is an example message.\n"


@pytest.mark.parametrize(
    "note",
    [
        GO_NOTE.replace("cryptography", "cryptographY"),
        GO_NOTE.replace("x08go", "x08gp"),
        GO_NOTE.replace(EM, "-"),
        GO_TEXT,
        GO_NOTE.replace("PeterNeumann x", "PeterNeuman x"),
        GO_NOTE[:-1],
        "",
    ],
)
def test_tampered_or_malformed_notes_do_not_open(note: str) -> None:
    with pytest.raises(NoteError):
        open_note(note, NoteVerifier.from_vkey(GO_VKEY))


def test_other_key_and_bad_vkeys_are_refused() -> None:
    other = NoteVerifier("PeterNeumann", Ed25519PrivateKey.generate().public_key())
    with pytest.raises(NoteError):
        open_note(GO_NOTE, other)
    with pytest.raises(NoteError):
        NoteVerifier.from_vkey(GO_VKEY.replace("c74f20a3", "c74f20a4"))
    with pytest.raises(NoteError):
        NoteVerifier.from_vkey("no-plus-signs")
    with pytest.raises(NoteError):
        NoteSigner("has space", Ed25519PrivateKey.generate())


def test_checkpoint_round_trip_and_format() -> None:
    s = NoteSigner("pantau/access-log", Ed25519PrivateKey.generate())
    root = bytes(range(32))
    cp = Checkpoint("pantau/access-log", 42, root)
    assert cp.text() == f"pantau/access-log\n42\n{base64.b64encode(root).decode()}\n"
    note = sign_checkpoint(cp, s)
    assert note.startswith(cp.text() + "\n" + EM + " pantau/access-log ")
    assert open_checkpoint(note, s, "pantau/access-log") == cp
    with pytest.raises(NoteError):
        open_checkpoint(note, s, "other/origin")
    with pytest.raises(NoteError):
        open_checkpoint(note.replace("\n42\n", "\n43\n"), s)
    for bad in ("o\n01\nAAAA\n", "o\n1\n" + base64.b64encode(b"short").decode() + "\n", "o\n1\n", "o\n-1\nx\n"):
        with pytest.raises(NoteError):
            Checkpoint.parse(bad)
    ext = Checkpoint("o", 1, root, ("extra line",))
    assert Checkpoint.parse(ext.text()) == ext


def test_key_created_owner_only_then_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "data" / "keys" / "access-log.pem"
    key = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = load_or_create_key(path)
    assert public_key_pem(again) == public_key_pem(key)
    assert list(path.parent.iterdir()) == [path]  # no temporary file left


def test_group_readable_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    load_or_create_key(path)
    os.chmod(path, 0o640)
    with pytest.raises(NoteError):
        load_key(path)


def test_public_key_text_loads_as_verifier(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "k.pem")
    text = public_key_text(key, "pantau/access-log")
    vkey_line = text.splitlines()[0]
    assert vkey_line.startswith("pantau/access-log+")
    note = signer(key, "pantau/access-log").sign("hello\n")
    for content in (text, vkey_line + "\n", public_key_pem(key)):
        pub = tmp_path / "pub.txt"
        pub.write_text(content)
        assert open_note(note, load_verifier(pub, "pantau/access-log")) == "hello\n"
