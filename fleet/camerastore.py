"""Cameras onboarded through the API (`POST /api/v1/cameras`), kept in the database.

The config file stays the operator's document: the gateway never rewrites it (that would
lose its comments and `${VAR}` references). Cameras added at run time live here and are
started together with the configured ones at every start. A configured camera with the
same id wins, and the stored one is reported and skipped.

A stored camera's config holds its credentials (the source URL's user and password), so each row
is kept sealed (core/sealing.py: AES-256-GCM under `data_dir/camera-secrets.key`, bound to the
camera's id): the database alone yields no camera password. Rows stored before this was so are
sealed at the next start.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import String, Text, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import Clock
from core.config import CameraConfig
from core.db import Base, UTCDateTime
from core.errors import Conflict, NotFound
from core.sealing import seal, unseal

log = logging.getLogger(__name__)

#: A sealed row's config starts so (a row stored before sealing is plain JSON, starting with "{").
SEALED = "sealed:v1:"
#: The key's file name in data_dir.
KEY_NAME = "camera-secrets.key"


class OnboardedCamera(Base):
    """One camera added through the API: its whole CameraConfig as JSON."""

    __tablename__ = "onboarded_cameras"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    config: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(String(128), nullable=False)


class CameraStore:
    """Reads, adds and changes onboarded cameras."""

    def __init__(self, db: async_sessionmaker[AsyncSession], clock: Clock, key: bytes) -> None:
        self._db = db
        self._clock = clock
        self._key = key
        #: Held by whoever reads a stored camera, changes it and applies the change, so two
        #: changes at once neither lose one another nor leave the running camera on the older.
        self.changing = asyncio.Lock()

    async def load(self, configured: set[str]) -> list[CameraConfig]:
        """Stored cameras, minus ids the config file already has and rows that no longer validate."""
        async with self._db() as session, session.begin():
            rows = (await session.scalars(select(OnboardedCamera).order_by(OnboardedCamera.created_at))).all()
            for row in rows:
                if not row.config.startswith(SEALED):  # stored before rows were sealed: seal it now
                    row.config = self._sealed(row.id, row.config)
                    log.info("onboarded camera %s: its stored config is sealed now", row.id)
        out: list[CameraConfig] = []
        for row in rows:
            if row.id in configured:
                log.warning("onboarded camera %s is also in the config file; the config file wins", row.id)
                continue
            try:
                out.append(self._config(row))
            except (ValueError, ValidationError) as exc:
                log.error("onboarded camera %s is not valid any more and is not started: %s", row.id,
                          str(exc).splitlines()[0])
        return out

    def _sealed(self, camera_id: str, text: str) -> str:
        return SEALED + seal(self._key, camera_id, text.encode())

    def _config(self, row: OnboardedCamera) -> CameraConfig:
        """The row's config; ValueError when its seal does not open (another key, or damaged)."""
        text = row.config
        if text.startswith(SEALED):
            plain = unseal(self._key, row.id, text[len(SEALED):])
            if plain is None:
                raise ValueError("its sealed config does not open with data_dir's camera-secrets.key")
            text = plain.decode()
        return CameraConfig.model_validate(json.loads(text))

    async def add(self, cfg: CameraConfig, by: str) -> None:
        """Store `cfg`; 409 when its id is stored already."""
        row = OnboardedCamera(id=cfg.id, config=self._sealed(cfg.id, cfg.model_dump_json()), created_at=self._clock.now(),
                              created_by=by)
        try:
            async with self._db() as session, session.begin():
                session.add(row)
        except IntegrityError as exc:
            raise Conflict(f"camera {cfg.id!r} already exists") from exc

    async def get(self, camera_id: str) -> CameraConfig | None:
        """The stored camera `camera_id`, or None when it was not onboarded through the API."""
        async with self._db() as session:
            row = await session.get(OnboardedCamera, camera_id)
        return None if row is None else self._config(row)

    async def update(self, cfg: CameraConfig) -> None:
        """Store `cfg` in place of the camera with its id (who changed it is in the access log)."""
        async with self._db() as session, session.begin():
            row = await session.get(OnboardedCamera, cfg.id)
            if row is None:
                raise NotFound(f"no onboarded camera {cfg.id!r}")
            row.config = self._sealed(cfg.id, cfg.model_dump_json())
