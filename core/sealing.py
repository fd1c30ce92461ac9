"""Secrets kept sealed in the database: AES-256-GCM under a 32-byte key kept in a file of its own
(mode 0600, made on first use), with associated data that binds a sealed value to its row, so a
value copied onto another row does not open. A database leak alone yields nothing; the database and
the key file together do, which is why the key lives apart from the database (`data_dir`, never in
it) and is refused when others may read it."""

from __future__ import annotations

import base64
import logging
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.durablefile import create_private

log = logging.getLogger(__name__)

KEY_BYTES = 32
NONCE_BYTES = 12


class SealingKeyUnusable(Exception):
    """The key file is readable by others or is not 32 bytes."""


def load_or_create_key(path: Path, what: str) -> bytes:
    """The key at `path`, created (0600) if absent; SealingKeyUnusable if others may read it."""
    if not path.exists() and create_private(path, secrets.token_bytes(KEY_BYTES)):
        log.info("created the %s key %s", what, path)
    mode = path.stat().st_mode
    if mode & 0o077:
        raise SealingKeyUnusable(f"{what} key {path} is readable by others (mode {mode & 0o777:o}); chmod 600 it")
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise SealingKeyUnusable(f"{what} key {path} does not hold {KEY_BYTES} bytes")
    return key


def seal(key: bytes, bound_to: str, plain: bytes) -> str:
    """base64(nonce || AES-GCM(plain)), bound to `bound_to` (associated data)."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, plain, bound_to.encode())).decode()


def unseal(key: bytes, bound_to: str, sealed: str) -> bytes | None:
    """The plain bytes, or None when the value is damaged, or was sealed for another row or key."""
    try:
        raw = base64.b64decode(sealed, validate=True)
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], bound_to.encode())
    except (ValueError, InvalidTag):
        return None
