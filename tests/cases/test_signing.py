"""The berita acara key: created once beside its public half, detached signatures over the PDF bytes."""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

from cases.signing import MinutesSigner, minutes_key_path, minutes_public_key_path, verify
from core.casesconfig import CasesConfig
from policy.dispositions.tokenkeys import KeyUnusable

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


def test_key_is_created_once_with_its_public_half_beside_it(tmp_path: Path) -> None:
    config = CasesConfig()
    path = minutes_key_path(config, tmp_path)
    assert path == tmp_path / "keys" / "berita-acara.pem"
    signer = MinutesSigner.configured(config, tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    public = minutes_public_key_path(config, tmp_path)
    assert public == tmp_path / "keys" / "berita-acara.pub.pem"
    assert public.read_bytes() == signer.public_key_pem
    raw = serialization.load_pem_public_key(signer.public_key_pem).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert signer.key_id == hashlib.sha256(raw).hexdigest()[:16]
    assert MinutesSigner(path).key_id == signer.key_id  # loaded again, not replaced
    elsewhere = tmp_path / "other" / "ba.pem"
    assert minutes_key_path(CasesConfig(key_path=elsewhere), tmp_path) == elsewhere


def test_signature_covers_every_byte_and_names_one_key(tmp_path: Path) -> None:
    signer = MinutesSigner(tmp_path / "a.pem")
    other = MinutesSigner(tmp_path / "b.pem")
    signature = signer.sign(PDF)
    assert len(base64.b64decode(signature)) == 64
    assert verify(PDF, signature, signer.public_key_pem)
    assert verify(PDF, signature + "\n", signer.public_key_pem)  # a signature file's newline is fine
    for at in (0, len(PDF) // 2, len(PDF) - 1):
        flipped = bytearray(PDF)
        flipped[at] ^= 0x01
        assert not verify(bytes(flipped), signature, signer.public_key_pem), at
    assert not verify(PDF + b"\n", signature, signer.public_key_pem)
    assert not verify(PDF, signature, other.public_key_pem)
    assert not verify(PDF, other.sign(PDF), signer.public_key_pem)
    assert not verify(PDF, "not base64 at all!", signer.public_key_pem)
    assert not verify(PDF, "", signer.public_key_pem)


def test_a_key_that_is_not_ed25519_is_refused(tmp_path: Path) -> None:
    ec_pem = generate_private_key(SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signature = MinutesSigner(tmp_path / "a.pem").sign(PDF)
    with pytest.raises(KeyUnusable):
        verify(PDF, signature, ec_pem)
    with pytest.raises(KeyUnusable):
        verify(PDF, signature, b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
