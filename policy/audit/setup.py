"""Building the access log from config, and the entries the gateway itself writes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from core.alerting import Publisher
from core.clock import Clock
from core.config import Settings
from core.redact import redact_url
from policy.audit.accesslog import AccessLog
from policy.audit.entries import AccessAction, AccessEvent
from policy.audit.origin import settle_origin
from policy.audit.signingkey import default_key_path, load_or_create_key, signer
from policy.audit.witness import FileWitness, HttpWitness, Witness

log = logging.getLogger(__name__)

CONFIG_HASH_FILE = "last-config.sha256"


def key_path(settings: Settings) -> Path:
    """Where the log's Ed25519 key lives."""
    return settings.access_log.key_path or default_key_path(settings.data_dir)


async def open_access_log(
    settings: Settings, engine: AsyncEngine, clock: Clock, alerts: Publisher | None = None
) -> AccessLog:
    """The access log with its signing key (created on first start) and witnesses."""
    cfg = settings.access_log
    key = await asyncio.to_thread(load_or_create_key, key_path(settings))
    witnesses: list[Witness] = []
    if cfg.witness_file is not None:
        witnesses.append(FileWitness(cfg.witness_file))
    if cfg.witness_url is not None:
        witnesses.append(HttpWitness(cfg.witness_url))
    origin = await settle_origin(settings, engine, key)
    return AccessLog(
        engine,
        signer(key, origin),
        origin=origin,
        checkpoint_interval_s=cfg.checkpoint_interval_s,
        clock=clock,
        witnesses=witnesses,
        alerts=alerts,
    )


# Keys whose values are secrets: left out of the configuration's digest (a short password's SHA-256
# in the access log could be guessed offline; the digest is to see that something changed).
SECRET_KEYS = frozenset({"password", "secret", "credential", "trigger_key", "token"})


def _redacted(value: Any, key: str = "") -> Any:
    if key in SECRET_KEYS and value is not None:
        return "***"
    if isinstance(value, dict):
        return {k: _redacted(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    if isinstance(value, str) and "://" in value:
        return redact_url(value)  # user:password@ in camera, database, broker and webhook URLs
    return value


def config_digest(settings: Settings) -> str:
    """SHA-256 of the effective configuration with its secrets left out (passwords, keys, tokens, the
    credentials in URLs): a change of anything else changes it."""
    return hashlib.sha256(
        json.dumps(_redacted(settings.model_dump(mode="json")), sort_keys=True).encode()
    ).hexdigest()


async def record_config(settings: Settings, access_log: AccessLog) -> None:
    """Log a config change when the effective configuration differs from the last start's."""
    digest = config_digest(settings)
    path = settings.data_dir / CONFIG_HASH_FILE
    previous = await asyncio.to_thread(_read, path)
    if previous == digest:
        return
    await access_log.record(
        AccessEvent(
            AccessAction.CONFIG_CHANGED,
            actor="system",
            reason="first start" if previous is None else "configuration differs from the last start",
            details={"sha256": digest, "previous_sha256": previous, "cameras": len(settings.cameras)},
        )
    )
    await asyncio.to_thread(path.write_text, digest + "\n")
    log.info("configuration change recorded in the access log (sha256 %s)", digest[:12])


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None
