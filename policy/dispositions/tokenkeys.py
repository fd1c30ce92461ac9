"""The Ed25519 key that signs disposition tokens: made like the access-log key (0600), with its public half beside it."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.errors import PantauError
from policy.audit.signingkey import load_or_create_key, public_key_pem

TOKEN_KEY_NAME = Path("keys") / "disposition-token.pem"


class KeyUnusable(PantauError):
    title = "Key unusable"
    kind = "key-unusable"


def default_token_key_path(data_dir: Path) -> Path:
    """Where the token key lives when access.disposition.key_path is not set."""
    return data_dir / TOKEN_KEY_NAME


def public_path(private_path: Path) -> Path:
    """Where the public key of `private_path` is published: same name, `.pub.pem`."""
    return private_path.with_name(private_path.name.removesuffix(".pem") + ".pub.pem")


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    """The private key at `path` (created 0600 if absent), its public key written beside it."""
    key = load_or_create_key(path)
    pub = public_path(path)
    pem = public_key_pem(key).encode()
    if not pub.exists() or pub.read_bytes() != pem:
        tmp = pub.with_name(f".{pub.name}.tmp")
        tmp.write_bytes(pem)
        tmp.replace(pub)
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file (or the public half of a private key file)."""
    data = path.read_bytes()
    key: object
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except ValueError as exc:
            raise KeyUnusable(f"{path} is not a PEM key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyUnusable(f"{path} is not an Ed25519 key")
    return key


def key_id(key: Ed25519PublicKey) -> str:
    """A short name for a public key: the first 16 hex digits of SHA-256 over its raw bytes."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]
