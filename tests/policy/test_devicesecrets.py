"""Integrator accounts keep their password sealed for digest protocols; nobody else's is kept."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select, update

from core.clock import ManualClock
from core.db import make_engine, make_sessionmaker
from core.errors import BadRequest
from policy.identity.devicesecrets import (
    DeviceKeyUnusable,
    DeviceSecrets,
    load_or_create_device_key,
    seal,
    unseal,
)
from policy.identity.models import DeviceSecret, User
from policy.identity.users import UserStore


def test_a_sealed_password_opens_only_for_its_account_and_key() -> None:
    key, other = os.urandom(32), os.urandom(32)
    sealed = seal(key, 7, "nvr-password-1")
    assert "nvr-password-1" not in sealed
    assert unseal(key, 7, sealed) == "nvr-password-1"
    assert unseal(key, 8, sealed) is None  # copied onto another account
    assert unseal(other, 7, sealed) is None  # another server's key
    assert unseal(key, 7, sealed[:-4] + "AAAA") is None
    assert unseal(key, 7, "not base64!") is None
    assert seal(key, 7, "nvr-password-1") != sealed  # a fresh nonce each time


def test_the_key_is_made_private_and_refused_when_others_may_read_it(tmp_path: Path) -> None:
    path = tmp_path / "data" / "device-secrets.key"
    key = load_or_create_device_key(path)
    assert len(key) == 32 and path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_device_key(path) == key
    path.chmod(0o644)
    with pytest.raises(DeviceKeyUnusable, match="chmod 600"):
        load_or_create_device_key(path)


async def test_only_enabled_integrator_accounts_have_a_device_password(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    try:
        db = make_sessionmaker(engine)
        clock = ManualClock()
        secrets = DeviceSecrets(db, load_or_create_device_key(tmp_path / "k"), clock)
        users = UserStore(db, clock, secrets)
        await users.add("nvr", "integrator", "nvr-password-1")
        await users.add("ops", "operator", "ops-password-1")
        assert await secrets.password("nvr") == "nvr-password-1"
        assert await users.authenticate("nvr", "nvr-password-1") is not None  # the usual hash too
        assert await secrets.password("ops") is None
        assert await secrets.password("nobody") is None
        async with db() as session:
            rows = (await session.scalars(select(DeviceSecret))).all()
            assert len(rows) == 1 and "nvr-password-1" not in rows[0].sealed  # a person's is never kept
            await session.execute(update(User).where(User.username == "nvr").values(disabled=True))
            await session.commit()
        assert await secrets.password("nvr") is None
        other_key = DeviceSecrets(db, os.urandom(32), clock)
        async with db() as session:
            await session.execute(update(User).where(User.username == "nvr").values(disabled=False))
            await session.commit()
        assert await other_key.password("nvr") is None  # the key replaced: refused, and logged
        with pytest.raises(BadRequest, match="device-secret key"):
            await UserStore(db, clock).add("vms", "integrator", "vms-password-1")
    finally:
        await engine.dispose()
