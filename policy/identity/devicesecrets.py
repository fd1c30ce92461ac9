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

import logging
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.sealing import SealingKeyUnusable, load_or_create_key
from core.sealing import seal as seal_bytes
from core.sealing import unseal as unseal_bytes
from policy.identity.models import DeviceSecret, User

log = logging.getLogger(__name__)

KEY_NAME = "device-secrets.key"
#: The role whose accounts keep a device secret.
DEVICE_ROLE = "integrator"


#: The key file is readable by others or is not 32 bytes.
DeviceKeyUnusable = SealingKeyUnusable


def default_device_key_path(data_dir: Path) -> Path:
    """Where the device-secret key lives."""
    return data_dir / KEY_NAME


def load_or_create_device_key(path: Path) -> bytes:
    """The key at `path`, created (0600) if absent; DeviceKeyUnusable if others may read it."""
    return load_or_create_key(path, "device-secret")


def seal(key: bytes, user_id: int, password: str) -> str:
    """base64(nonce || AES-GCM(password)), bound to `user_id`."""
    return seal_bytes(key, str(user_id), password.encode())


def unseal(key: bytes, user_id: int, sealed: str) -> str | None:
    """The password, or None when the value is damaged, was sealed for another account or key."""
    plain = unseal_bytes(key, str(user_id), sealed)
    try:
        return plain.decode() if plain is not None else None
    except UnicodeDecodeError:
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
