"""The access log's checkpoint origin (C2SP tlog-checkpoint's first line), which names the log.

Two cities' logs must never be confused, so the default is unique per installation: made once, at the
first start, from the host name and the signing key's fingerprint (`HOST/pantau/access-log/KEYID`),
and kept beside the key (`access-log.origin`), so a renamed host keeps its log's name. An installation
whose log was checkpointed before this existed keeps the origin its checkpoints carry (the old fixed
`pantau/access-log`). `access_log.origin` in the config overrides all of this.
"""

from __future__ import annotations

import hashlib
import re
import socket
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy.ext.asyncio import AsyncEngine

from core.config import Settings
from core.durablefile import create_private
from policy.audit.reader import latest_checkpoint
from policy.audit.signingkey import default_key_path

#: The origin every installation had before origins were per installation.
LEGACY_ORIGIN = "pantau/access-log"
_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


def origin_path(settings: Settings) -> Path:
    """Where the installation's origin is kept: beside the signing key."""
    key = settings.access_log.key_path or default_key_path(settings.data_dir)
    return key.with_name("access-log.origin")


def new_origin(key: Ed25519PrivateKey, host: str | None = None) -> str:
    """`HOST/pantau/access-log/KEYID`: the host name (letters, digits, dots and dashes) and the first
    8 bytes of the SHA-256 of the public key, in hex."""
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    name = _UNSAFE.sub("-", host or socket.gethostname()).strip("-.") or "pantau"
    return f"{name[:63]}/pantau/access-log/{hashlib.sha256(raw).hexdigest()[:16]}"


def known_origin(settings: Settings) -> str:
    """The origin without a database (the CLI, the public-key route): the config's, else the one kept
    beside the key, else the legacy one."""
    if settings.access_log.origin:
        return settings.access_log.origin
    try:
        return origin_path(settings).read_text(encoding="ascii").strip() or LEGACY_ORIGIN
    except FileNotFoundError:
        return LEGACY_ORIGIN


async def settle_origin(settings: Settings, engine: AsyncEngine, key: Ed25519PrivateKey) -> str:
    """The origin this installation signs with, made and kept on its first start (blocking file I/O:
    call at start-up only)."""
    if settings.access_log.origin:
        return settings.access_log.origin
    path = origin_path(settings)
    if path.exists():
        return known_origin(settings)
    async with engine.connect() as conn:
        latest = await latest_checkpoint(conn)
    origin = latest.note.split("\n", 1)[0] if latest is not None else new_origin(key)
    create_private(path, (origin + "\n").encode("ascii"))
    return known_origin(settings)  # another process starting at once may have made it first
