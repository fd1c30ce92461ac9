"""Device secrets: the password of an `integrator` account (an NVR, a VMS, an analytics box), kept
so the server can check the digests that device protocols send.

RTSP Digest (RFC 2617/7616) and ONVIF's WS-UsernameToken PasswordDigest both hash the password
itself with a nonce; the scrypt hash in `users` cannot check either. So for accounts of the
integrator role, and for them only (machines, not people, and a role an admin gives on purpose),
the password is also stored sealed: AES-256-GCM under a 32-byte key in `data_dir`
(`device-secrets.key`, mode 0600, made on first use), the account's id as associated data, so a
sealed value copied onto another account does not open. A database leak alone yields nothing;
the database and the key together yield these passwords, which is why people's accounts never
get one.
"""

from __future__ import annotations

import base64
import logging
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.durablefile import create_private
from policy.identity.models import DeviceSecret, User

log = logging.getLogger(__name__)

KEY_NAME = "device-secrets.key"
KEY_BYTES = 32
NONCE_BYTES = 12
#: The role whose accounts keep a device secret.
DEVICE_ROLE = "integrator"


class DeviceKeyUnusable(Exception):
    """The key file is readable by others or is not 32 bytes."""


def default_device_key_path(data_dir: Path) -> Path:
    """Where the device-secret key lives."""
    return data_dir / KEY_NAME


def load_or_create_device_key(path: Path) -> bytes:
    """The key at `path`, created (0600) if absent; DeviceKeyUnusable if others may read it."""
    if not path.exists() and create_private(path, secrets.token_bytes(KEY_BYTES)):
        log.info("created the device-secret key %s", path)
    mode = path.stat().st_mode
    if mode & 0o077:
        raise DeviceKeyUnusable(f"device-secret key {path} is readable by others (mode {mode & 0o777:o}); chmod 600 it")
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise DeviceKeyUnusable(f"device-secret key {path} does not hold {KEY_BYTES} bytes")
    return key


def seal(key: bytes, user_id: int, password: str) -> str:
    """base64(nonce || AES-GCM(password)), bound to `user_id`."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, password.encode(), str(user_id).encode())
    return base64.b64encode(nonce + sealed).decode()


def unseal(key: bytes, user_id: int, sealed: str) -> str | None:
    """The password, or None when the value is damaged, was sealed for another account or key."""
    try:
        raw = base64.b64decode(sealed, validate=True)
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], str(user_id).encode()).decode()
    except (ValueError, InvalidTag, UnicodeDecodeError):
        return None


class DeviceSecrets:
    """Sealed passwords of integrator accounts, by username."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], key: bytes, clock: Clock) -> None:
        self._sessions = sessions
        self._key = key
        self._clock = clock

    def row(self, user_id: int, password: str) -> DeviceSecret:
        """The row that keeps account `user_id`'s password (added in the account's own transaction)."""
        return DeviceSecret(user_id=user_id, sealed=seal(self._key, user_id, password), updated_at=self._clock.now())

    async def password(self, username: str) -> str | None:
        """The password of an enabled integrator account, or None (no such account, another role,
        disabled, no secret kept, or one that does not open with this key: logged)."""
        async with self._sessions() as session:
            row = (await session.execute(
                select(User, DeviceSecret).join(DeviceSecret, DeviceSecret.user_id == User.id)
                .where(User.username == username))).first()
        if row is None:
            return None
        user, secret = row
        if user.disabled or user.role != DEVICE_ROLE:
            return None
        password = unseal(self._key, user.id, secret.sealed)
        if password is None:
            log.warning("the device secret of %r does not open with this key (data_dir/%s replaced?)",
                        username, KEY_NAME)
        return password
