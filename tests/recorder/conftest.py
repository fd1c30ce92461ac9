from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.migrations import upgrade


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    """A migrated SQLite index (for tests that need one backend only)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'index.db'}"
    upgrade(url)
    yield url
