"""The Ed25519 key that signs each berita acara: a detached signature over the PDF's exact bytes.

The key is `cases.key_path`, or `data_dir/keys/berita-acara.pem`, created owner-only on first use
with its public half beside it (`berita-acara.pub.pem`), which is all a verifier needs:
`pantau verify-berita-acara FILE.pdf --signature FILE.sig [--public-key PEM]`.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from core.casesconfig import CasesConfig
from policy.dispositions.tokenkeys import KeyUnusable, key_id, load_or_create_signing_key, public_path

MINUTES_KEY_NAME = Path("keys") / "berita-acara.pem"


def minutes_key_path(config: CasesConfig, data_dir: Path) -> Path:
    """Where the berita acara key lives: `cases.key_path`, or data_dir/keys/berita-acara.pem."""
    return config.key_path or data_dir / MINUTES_KEY_NAME


def minutes_public_key_path(config: CasesConfig, data_dir: Path) -> Path:
    """The published public key of the berita acara key (`.pub.pem` beside it)."""
    return public_path(minutes_key_path(config, data_dir))


class MinutesSigner:
    """Signs berita acara PDFs; loading or creating the key reads files, so build it in a thread."""

    def __init__(self, key_path: Path) -> None:
        self._key = load_or_create_signing_key(key_path)
        self.key_path = key_path
        self.public_key_path = public_path(key_path)
        #: First 16 hex digits of SHA-256 over the raw public key, as disposition tokens name theirs.
        self.key_id = key_id(self._key.public_key())

    @classmethod
    def configured(cls, config: CasesConfig, data_dir: Path) -> MinutesSigner:
        """The signer of the configured (or default) key."""
        return cls(minutes_key_path(config, data_dir))

    @property
    def public_key_pem(self) -> bytes:
        """The public key as PEM (SubjectPublicKeyInfo)."""
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, pdf: bytes) -> str:
        """Base64 of the detached Ed25519 signature over `pdf`."""
        return base64.b64encode(self._key.sign(pdf)).decode("ascii")


def load_public_pem(public_key_pem: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM; KeyUnusable for anything else."""
    try:
        key = serialization.load_pem_public_key(public_key_pem)
    except ValueError as exc:
        raise KeyUnusable("not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyUnusable("not an Ed25519 public key")
    return key


def verify(pdf: bytes, signature_b64: str, public_key_pem: bytes) -> bool:
    """Whether `signature_b64` is the key's signature over exactly these bytes; KeyUnusable for a bad key."""
    key = load_public_pem(public_key_pem)
    try:
        # validate=True: a signature file with stray characters is refused, not silently trimmed.
        signature = base64.b64decode(signature_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        key.verify(signature, pdf)
    except InvalidSignature:
        return False
    return True
