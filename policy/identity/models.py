"""Tables owned by policy: users, API sessions, used one-time links."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime


class User(Base):
    """A person who signs in; `role` is one of core.config.ROLES."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(256), nullable=False)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class ApiSession(Base):
    """A bearer token; only its SHA-256 is stored, so a database leak yields no usable token."""

    __tablename__ = "api_sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    client: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    revoked: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class DisplayDevice(Base):
    """An enrolled video-wall display: a device credential with the viewer role that does not expire
    with a person's sign-in, revocable by an administrator. Only the token's SHA-256 is stored."""

    __tablename__ = "displays"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    revoke_reason: Mapped[str] = mapped_column(String(512), nullable=False, default="")
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class LinkUse(Base):
    """A one-time signed link that was used: inserting its id is the atomic "first use wins"."""

    __tablename__ = "link_uses"

    link_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    used_by: Mapped[str] = mapped_column(String(64), nullable=False)
    client: Mapped[str] = mapped_column(String(64), nullable=False)


class DeviceSecret(Base):
    """An integrator account's password, sealed (AES-256-GCM; policy/identity/devicesecrets.py),
    for the protocols whose digests need it on the server: RTSP Digest and ONVIF's
    WS-UsernameToken PasswordDigest."""

    __tablename__ = "device_secrets"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    sealed: Mapped[str] = mapped_column(String(512), nullable=False)  # base64(nonce || ciphertext)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
