"""The access log's origin names the installation: made once (host and key fingerprint), kept beside
the key, the legacy one kept by a log checkpointed before, the config's above all; and a note with a
control character in its text is refused; the configuration digest leaves the secrets out."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from core.clock import SystemClock
from core.config import AccessLogConfig, Settings
from core.db import make_engine
from gateway.migrations import upgrade
from policy.audit.entries import AccessAction, AccessEvent
from policy.audit.origin import LEGACY_ORIGIN, known_origin, new_origin, origin_path
from policy.audit.setup import key_path, open_access_log
from policy.audit.signednote import NoteError, open_note
from policy.audit.signingkey import load_or_create_key, signer


def test_new_origin_is_host_and_key() -> None:
    key = Ed25519PrivateKey.generate()
    other = Ed25519PrivateKey.generate()
    made = new_origin(key, "cctv-kota.example id")
    assert made.startswith("cctv-kota.example-id/pantau/access-log/") and len(made.rsplit("/", 1)[1]) == 16
    assert new_origin(key, "cctv-kota.example id") == made and new_origin(other, "cctv-kota.example id") != made
    assert " " not in made and "+" not in made


@pytest.mark.parametrize("bad", ["two words", "a+b", "tab\there", "line\nbreak", "kota/é"])
def test_configured_origin_must_be_a_checkpoint_origin(bad: str) -> None:
    with pytest.raises(ValidationError):
        AccessLogConfig(origin=bad)


async def _record_one(settings: Settings) -> str:
    engine = make_engine(settings.database_url)
    try:
        log = await open_access_log(settings, engine, SystemClock())
        await log.record(AccessEvent(AccessAction.SIGN_IN, actor="admin"))
        await log.checkpoint()
        return log.origin
    finally:
        await engine.dispose()


async def test_each_installation_has_its_own_and_keeps_it(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path / "a")
    second = Settings(data_dir=tmp_path / "b")
    for s in (first, second):
        s.data_dir.mkdir(parents=True)
        await asyncio.to_thread(upgrade, s.database_url)
    a, b = await _record_one(first), await _record_one(second)
    assert a != b and a.endswith(new_origin(load_or_create_key(key_path(first)))[-16:])
    assert known_origin(first) == a and origin_path(first).read_text().strip() == a
    assert await _record_one(first) == a  # a restart signs under the same name


async def test_a_log_checkpointed_before_keeps_the_legacy_origin(tmp_path: Path) -> None:
    legacy = Settings(data_dir=tmp_path, access_log={"origin": LEGACY_ORIGIN})
    await asyncio.to_thread(upgrade, legacy.database_url)
    assert await _record_one(legacy) == LEGACY_ORIGIN
    upgraded = Settings(data_dir=tmp_path)  # the default now: no origin configured
    assert await _record_one(upgraded) == LEGACY_ORIGIN  # its checkpoints still verify
    assert known_origin(upgraded) == LEGACY_ORIGIN


def test_a_note_with_a_control_character_is_refused() -> None:
    key = Ed25519PrivateKey.generate()
    s = signer(key, "kota/pantau/access-log/x")
    good = s.sign("kota/pantau/access-log/x\n1\nAAAA\n")
    assert open_note(good, s) == "kota/pantau/access-log/x\n1\nAAAA\n"
    with pytest.raises(NoteError, match="control character"):
        open_note(s.sign("kota\x1b[2J/pantau\n1\nAAAA\n"), s)


def test_config_digest_leaves_secrets_out() -> None:
    """The access log's config_changed digest changes with the configuration, not with its secrets."""
    from core.config import CameraConfig
    from policy.audit.setup import config_digest

    def settings(password: str, name: str = "Gate") -> Settings:
        return Settings(cameras=[CameraConfig(id="gate", name=name, source=f"rtsp://admin:{password}@10.0.0.5/s")],
                        alerts={"webhooks": [{"name": "ops", "url": "https://hook.example/x",
                                              "secret": password * 4}]})

    assert config_digest(settings("one-password")) == config_digest(settings("another-one"))
    assert config_digest(settings("one-password")) != config_digest(settings("one-password", name="Gerbang"))
