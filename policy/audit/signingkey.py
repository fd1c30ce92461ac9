"""The access log's Ed25519 signing key: created once, owner-only, and its public forms."""

from __future__ import annotations

import logging
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from core.durablefile import create_private
from policy.audit.signednote import NoteError, NoteSigner, NoteVerifier

log = logging.getLogger(__name__)

DEFAULT_KEY_NAME = Path("keys") / "access-log.pem"


def default_key_path(data_dir: Path) -> Path:
    """Where the key lives when config access_log.key_path is not set."""
    return data_dir / DEFAULT_KEY_NAME


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """Load the PEM key at `path`, or create it (mode 0600, directory 0700) if it does not exist.

    Creation goes through core/durablefile.py, so two processes starting together end up with the
    same key and nobody reads a half-written file.
    """
    if path.exists():
        return load_key(path)
    key = Ed25519PrivateKey.generate()
    if create_private(path, key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())):
        log.info("created access-log signing key %s", path)
    return load_key(path)


def load_key(path: Path) -> Ed25519PrivateKey:
    """Load a PEM Ed25519 private key; refuse one that others may read."""
    mode = path.stat().st_mode
    if mode & 0o077:
        raise NoteError(f"signing key {path} is readable by others (mode {mode & 0o777:o}); chmod 600 it")
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise NoteError(f"{path} is not an Ed25519 private key")
    return key


def signer(key: Ed25519PrivateKey, origin: str) -> NoteSigner:
    """The note signer for checkpoints of `origin` (the key name is the origin)."""
    return NoteSigner(origin, key)


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """SubjectPublicKeyInfo PEM of the key's public half."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def public_key_text(key: Ed25519PrivateKey, origin: str) -> str:
    """What `pantau` prints for the public key: the signed-note vkey line and the PEM."""
    return NoteVerifier(origin, key.public_key()).vkey() + "\n" + public_key_pem(key)


def load_verifier(path: Path, origin: str) -> NoteVerifier:
    """A verifier from a file holding a vkey line, a public PEM, or (on the gateway) the private PEM."""
    text = path.read_text()
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("-----") and "+" in line and " " not in line:
            try:
                return NoteVerifier.from_vkey(line)
            except NoteError:
                continue
    data = text.encode()
    if b"PRIVATE KEY" in data:
        priv = load_pem_private_key(data, password=None)
        if not isinstance(priv, Ed25519PrivateKey):
            raise NoteError(f"{path} is not an Ed25519 key")
        return NoteVerifier(origin, priv.public_key())
    pub = load_pem_public_key(data)
    if not isinstance(pub, Ed25519PublicKey):
        raise NoteError(f"{path} is not an Ed25519 public key")
    return NoteVerifier(origin, pub)
