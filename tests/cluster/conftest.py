"""Fixtures shared by the cluster tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import make_engine, make_sessionmaker


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(pg_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()
