"""Spending one-time links: the first use of a link id wins, atomically, on every backend.

The row's PRIMARY KEY (link_uses.link_id) does the work: two requests racing with one link both
try to insert it and the database lets exactly one through (SQLite serializes writers, PostgreSQL
raises a unique violation for the loser). A one-time link opens exactly one request; a browser's
`<video>` plays /get (which answers without ranges) from one request (tests/test_links_browser.py).
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from policy.identity.models import LinkUse


class LinkUses:
    """Which one-time links were used, by whom, from where."""

    def __init__(self, db: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def spend(self, link_id: str, used_by: str, client: str) -> bool:
        """Record the use of `link_id`: True for the first use, False when it was used already."""
        async with self._db() as session:
            session.add(LinkUse(link_id=link_id, used_at=self._clock.now(), used_by=used_by[:64],
                                client=client[:64]))
            try:
                await session.commit()
            except IntegrityError:
                return False
        return True
