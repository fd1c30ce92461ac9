"""`pantau user ...`: create, list, disable, enable, re-role and re-password accounts from the shell.

Each command migrates the database first and writes its own access-log entries (`user_created`,
`user_changed` with `via: cli`, the actor being `cli:` and the OS user), then a checkpoint. A running
gateway sees a change at its sessions' next check: a disabled account's API sessions are revoked in
the database, and its WHEP sessions end within webrtc.sessions.SIGN_IN_CHECK_S.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from core.clock import SystemClock
from core.config import ROLES, Settings
from core.db import make_engine, make_sessionmaker
from core.errors import PantauError
from core.utctime import format_utc_or_none
from gateway.migrations import upgrade
from gateway.userlog import record_change
from policy.audit.accesslog import AccessLog
from policy.audit.entries import AccessAction, AccessEvent
from policy.audit.setup import open_access_log
from policy.identity.devicesecrets import DeviceSecrets, default_device_key_path, load_or_create_device_key
from policy.identity.useradmin import UserAdmin, UserInfo
from policy.identity.users import UserStore

T = TypeVar("T")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `user` command and its actions."""
    user = sub.add_parser("user", help="manage users")
    user_sub = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = user_sub.add_parser("add", help="create a user")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    user_sub.add_parser("list", help="every user: name, role, enabled, created, last sign-in")
    disable = user_sub.add_parser("disable", help="refuse the user's sign-in and end their sessions")
    disable.add_argument("name")
    enable = user_sub.add_parser("enable", help="let a disabled user sign in again")
    enable.add_argument("name")
    role = user_sub.add_parser("set-role", help="give the user another role (from their next request)")
    role.add_argument("name")
    role.add_argument("role", choices=ROLES)
    reset = user_sub.add_parser("reset-password", help="set the user's password; their sessions end")
    reset.add_argument("name")
    reset.add_argument("--password-stdin", action="store_true", help="read the password from stdin")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run one `user` action; its exit status."""
    upgrade(settings.database_url)
    action: str = args.user_command
    if action in ("add", "reset-password"):
        password = read_password(args.password_stdin)
    if action == "add":
        asyncio.run(_with_stores(settings, lambda s: _add(s, args.name, args.role, password)))
        print(f"user {args.name!r} created with role {args.role}")
    elif action == "list":
        users = asyncio.run(_with_stores(settings, lambda s: s.admin.list()))
        _print_table(users)
    elif action in ("disable", "enable"):
        enabled = action == "enable"
        asyncio.run(_with_stores(settings, lambda s: _change(s, args.name, enabled=enabled)))
        print(f"user {args.name!r} is {'enabled' if enabled else 'disabled'}")
    elif action == "set-role":
        asyncio.run(_with_stores(settings, lambda s: _change(s, args.name, role=args.role)))
        print(f"user {args.name!r} has role {args.role}")
    elif action == "reset-password":
        asyncio.run(_with_stores(settings, lambda s: _reset(s, args.name, password)))
        print(f"user {args.name!r} has a new password; their sessions have ended")
    return 0


def read_password(from_stdin: bool) -> str:
    """One line of stdin, or a password typed twice at the terminal."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat: ") != first:
        raise PantauError("passwords differ")
    return first


class _Stores:
    def __init__(self, users: UserStore, admin: UserAdmin, access_log: AccessLog) -> None:
        self.users, self.admin, self.access_log = users, admin, access_log


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


async def _with_stores(settings: Settings, work: Callable[[_Stores], Awaitable[T]]) -> T:
    clock = SystemClock()
    engine = make_engine(settings.database_url)
    try:
        access_log = await open_access_log(settings, engine, clock)
        key = load_or_create_device_key(default_device_key_path(settings.data_dir))
        db = make_sessionmaker(engine)
        secrets = DeviceSecrets(db, key, clock)
        result = await work(_Stores(UserStore(db, clock, secrets), UserAdmin(db, clock, settings.access.admin_roles, secrets), access_log))
        await access_log.checkpoint()
        return result
    finally:
        await engine.dispose()


async def _add(stores: _Stores, name: str, role: str, password: str) -> None:
    await stores.users.add(name, role, password)
    await stores.access_log.record(
        AccessEvent(AccessAction.USER_CREATED, actor=_actor(), details={"username": name, "role": role}))


async def _change(stores: _Stores, name: str, *, enabled: bool | None = None, role: str | None = None) -> None:
    change = await stores.admin.change(name, enabled=enabled, role=role)
    await record_change(stores.access_log, change, _actor(), None, None, "cli")


async def _reset(stores: _Stores, name: str, password: str) -> None:
    change = await stores.admin.set_password(name, password)
    await record_change(stores.access_log, change, _actor(), None, None, "cli")


def _print_table(users: list[UserInfo]) -> None:
    rows = [("NAME", "ROLE", "ENABLED", "CREATED", "LAST SIGN-IN")] + [
        (u.username, u.role, "yes" if u.enabled else "no", format_utc_or_none(u.created_at) or "-",
         format_utc_or_none(u.last_sign_in_at) or "-") for u in users]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join([cell.ljust(width) for cell, width in zip(row, widths, strict=False)] + [row[-1]]))
