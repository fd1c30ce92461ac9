"""The parts a route uses, built exactly as the gateway builds them, for tests that need the
application without serving it (nothing runs: no camera, recorder or checkpointer task)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from core.clock import Clock, SystemClock
from core.config import Settings
from gateway.app import assemble
from gateway.migrations import upgrade
from gateway.services import Services
from tests.gatewayutil import make_settings


@asynccontextmanager
async def built_services(
    tmp_path: Path, settings: Settings | None = None, clock: Clock | None = None
) -> AsyncIterator[Services]:
    """`Services` on a migrated SQLite database in `tmp_path` (or on `settings`), closed on exit."""
    settings = settings or make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'pantau.db'}")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(upgrade, settings.database_url)
    async with AsyncExitStack() as stack:
        services, _ = await assemble(settings, clock or SystemClock(), stack)
        yield services
