"""Account administration against the database (SQLite and PostgreSQL): who counts as an
administrator follows `access.admin_roles`, the last enabled one is kept, and two administrators
disabling each other at once cannot both succeed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from core.clock import ManualClock
from core.db import make_engine, make_sessionmaker
from core.errors import Conflict
from policy.identity.useradmin import UserAdmin
from policy.identity.users import UserStore

PASSWORD = "password-123"


@pytest.fixture
async def stores(db_url: str) -> AsyncIterator[tuple[UserStore, UserAdmin]]:
    engine = make_engine(db_url)
    db, clock = make_sessionmaker(engine), ManualClock()
    try:
        yield UserStore(db, clock), UserAdmin(db, clock, ["admin", "supervisor"])
    finally:
        await engine.dispose()


async def test_the_admin_roles_of_the_policy_count_as_administrators(
        stores: tuple[UserStore, UserAdmin]) -> None:
    users, admin = stores
    await users.add("ada", "admin", PASSWORD)
    await users.add("sam", "supervisor", PASSWORD)
    await users.add("vera", "viewer", PASSWORD)
    change = await admin.change("ada", enabled=False)  # sam, a supervisor, administers here
    assert [(c.field, c.before, c.after) for c in change.changes] == [("enabled", True, False)]
    with pytest.raises(Conflict):
        await admin.change("sam", enabled=False)
    with pytest.raises(Conflict):
        await admin.change("sam", role="operator")
    assert (await admin.change("sam", role="admin")).changes[0].after == "admin"  # still one
    await admin.change("vera", enabled=False)  # a viewer is nobody's last administrator
    assert (await admin.change("vera", enabled=False)).changes == ()  # nothing to change
    assert [(u.username, u.role, u.enabled) for u in await admin.list()] == [
        ("ada", "admin", False), ("sam", "admin", True), ("vera", "viewer", False)]


async def test_two_administrators_disabling_each_other_at_once_leave_one(
        stores: tuple[UserStore, UserAdmin]) -> None:
    users, admin = stores
    for round_ in range(5):
        a, b = f"a{round_}", f"b{round_}"
        await users.add(a, "admin", PASSWORD)
        await users.add(b, "admin", PASSWORD)
        for other in await admin.list():
            if other.username not in (a, b) and other.enabled:
                await admin.change(other.username, enabled=False)
        outcomes = await asyncio.gather(admin.change(a, enabled=False), admin.change(b, enabled=False),
                                        return_exceptions=True)
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        # Never both: the second counts the first's change (measured to fail without the row lock
        # on PostgreSQL, and without writing before counting on SQLite).
        assert len(failed) == 1 and isinstance(failed[0], Conflict), outcomes
        assert sum(u.enabled for u in await admin.list() if u.role == "admin") == 1
