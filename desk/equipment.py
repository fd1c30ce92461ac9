"""Automatic probes of the room's equipment (SOP step 3): a TCP connect, a ping, Pantau's own
recording disk and database, all at once, each within the desk's probe timeout.

The desk cannot see the recorder's disk or the engine itself; the composition root hands it two
small callables built by the helpers below::

    from desk.equipment import EquipmentProbes, database_ping, recorder_storage

    probes = EquipmentProbes(
        settings.desk.equipment,
        settings.desk.probe_timeout_s,
        storage=recorder_storage(recorder),
        database=database_ping(engine),
    )
    readings = await probes.probe_all()  # {"nvr-1": Reading(item="nvr-1", ok=True, ...), ...}
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import socket
import time
from collections.abc import Awaitable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.deskconfig import HOST_PORT, EquipmentItem, Probe

if TYPE_CHECKING:
    from recorder.service import Recorder

ProbeKind = Literal["tcp", "icmp", "disk", "database"]
PING_MISSING = "ping is not installed (Debian package iputils-ping)"
# iputils prints "time=0.045 ms", and "time<1 ms" on some platforms' builds.
PING_TIME = re.compile(rb"time[=<]\s*([0-9.]+)\s*ms")
GIB = 1024**3


@dataclass(frozen=True, slots=True)
class Reading:
    """What one probe saw: the item, how it was probed, and a short English verdict."""

    item: str
    kind: ProbeKind
    target: str  # host:port, host, the storage path, or "database"
    ok: bool
    detail: str
    latency_ms: float | None

    def as_dict(self) -> dict[str, Any]:
        """The reading as JSON-ready values (stored with a check, shown on the form)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class StorageFacts:
    """Pantau's recording disk as the recorder sees it."""

    path: str
    free_bytes: int
    total_bytes: int
    floor_bytes: int  # recording.min_free_bytes
    writable: bool
    problem: str | None = None  # the recorder's own alarm (recording stopped), if raised


class StorageSource(Protocol):
    """Reports the recording disk; may block on a statvfs, so the probe calls it in a thread."""

    def __call__(self) -> StorageFacts: ...


class DatabasePing(Protocol):
    """Runs a trivial query on Pantau's database; raises when the database does not answer."""

    def __call__(self) -> Awaitable[None]: ...


class EquipmentProbes:
    """Probes every item that has a probe, concurrently, each within `timeout_s`."""

    def __init__(
        self,
        items: Sequence[EquipmentItem],
        timeout_s: float,
        *,
        storage: StorageSource,
        database: DatabasePing,
        ping_command: str = "ping",
    ) -> None:
        self.items = list(items)
        self.timeout_s = timeout_s
        self._storage = storage
        self._database = database
        self._ping = ping_command

    async def probe_all(self) -> dict[str, Reading]:
        """One reading per probed item, keyed by item id, in the configured order."""
        probed = [(item, item.probe) for item in self.items if item.probe is not None]
        async with asyncio.TaskGroup() as tasks:
            running = [(item.id, tasks.create_task(self._timed(item.id, probe))) for item, probe in probed]
        return {item_id: task.result() for item_id, task in running}

    async def _timed(self, item: str, probe: Probe) -> Reading:
        kind, target = _kind_and_target(probe)
        try:
            async with asyncio.timeout(self.timeout_s):
                if probe.tcp is not None:
                    return await self._tcp(item, probe.tcp)
                if probe.icmp is not None:
                    return await self._icmp(item, probe.icmp)
                if probe.disk:
                    return await self._disk(item)
                return await self._db(item)
        except TimeoutError:
            return Reading(item, kind, target, False, f"timed out after {self.timeout_s:g} s", None)

    async def _tcp(self, item: str, target: str) -> Reading:
        match = HOST_PORT.fullmatch(target)
        assert match is not None  # the config validated it
        host, port = match["host"].strip("[]"), int(match["port"])
        start = time.perf_counter()
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError as exc:
            return Reading(item, "tcp", target, False, _why(exc), None)
        latency = _ms_since(start)
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass  # a reset while closing: the peer did accept, which is what we ask
        return Reading(item, "tcp", target, True, f"connected in {_fmt_ms(latency)}", latency)

    async def _icmp(self, item: str, host: str) -> Reading:
        # ping's own wait in whole seconds (older iputils reject fractions); the probe's timeout
        # around this call is the exact limit and kills ping if it runs longer.
        wait_s = str(max(1, math.ceil(self.timeout_s)))
        try:
            proc = await asyncio.create_subprocess_exec(
                self._ping, "-n", "-c", "1", "-W", wait_s, host,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
        except FileNotFoundError:
            return Reading(item, "icmp", host, False, PING_MISSING, None)
        try:
            out, err = await proc.communicate()
        finally:
            if proc.returncode is None:  # cancelled by the timeout: leave no ping and no zombie behind
                proc.kill()
                await proc.wait()
        if proc.returncode == 0:
            found = PING_TIME.search(out)
            latency = float(found[1]) if found else None
            said = f"answered in {_fmt_ms(latency)}" if latency is not None else "answered"
            return Reading(item, "icmp", host, True, said, latency)
        if proc.returncode == 1:  # iputils: sent, but no reply
            return Reading(item, "icmp", host, False, "no answer", None)
        lines = err.decode(errors="replace").strip().splitlines()
        why = lines[-1].removeprefix("ping: ")[:120] if lines else f"ping failed (exit {proc.returncode})"
        return Reading(item, "icmp", host, False, why, None)

    async def _disk(self, item: str) -> Reading:
        try:
            facts = await asyncio.to_thread(self._storage)
        except OSError as exc:
            return Reading(item, "disk", "storage", False, _why(exc), None)
        space = f"{_gib(facts.free_bytes)} GiB free of {_gib(facts.total_bytes)} GiB"
        if facts.problem:
            why = facts.problem
        elif not facts.writable:
            why = f"not writable; {space}"
        elif facts.free_bytes < facts.floor_bytes:
            why = f"{space}, below the floor of {_gib(facts.floor_bytes)} GiB"
        else:
            return Reading(item, "disk", facts.path, True, space, None)
        return Reading(item, "disk", facts.path, False, why, None)

    async def _db(self, item: str) -> Reading:
        start = time.perf_counter()
        try:
            await self._database()
        except Exception as exc:  # any driver error means "does not answer"; say which, briefly
            return Reading(item, "database", "database", False, _why(exc), None)
        latency = _ms_since(start)
        return Reading(item, "database", "database", True, f"answered in {_fmt_ms(latency)}", latency)


def recorder_storage(recorder: Recorder) -> StorageSource:
    """The recorder's disk as the desk sees it: the figures and alarm /health shows, and its floor."""

    def facts() -> StorageFacts:
        status = recorder.storage_status()  # one statvfs; an unusable path reads as 0 of 0 bytes
        return StorageFacts(
            path=status.path,
            free_bytes=status.bytes_free,
            total_bytes=status.bytes_total,
            floor_bytes=recorder.config.min_free_bytes,
            writable=os.access(status.path, os.W_OK),
            problem=status.problem,
        )

    return facts


def database_ping(engine: AsyncEngine) -> DatabasePing:
    """The query /readyz runs: SELECT 1 on a pooled connection."""

    async def ping() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    return ping


def _kind_and_target(probe: Probe) -> tuple[ProbeKind, str]:
    if probe.tcp is not None:
        return "tcp", probe.tcp
    if probe.icmp is not None:
        return "icmp", probe.icmp
    return ("disk", "storage") if probe.disk else ("database", "database")


def _why(exc: BaseException) -> str:
    """A short reason for a failure: the errno's words, or the first line of the driver's message."""
    if isinstance(exc, socket.gaierror):
        return "host name not found"
    if isinstance(exc, OSError) and exc.errno:
        # asyncio words a refusal as "Connect call failed (addr)"; the errno says it plainly.
        return os.strerror(exc.errno).lower()
    if isinstance(exc, DBAPIError):
        exc = exc.orig or exc  # the driver's message, without the SQL and link SQLAlchemy appends
    lines = str(exc).strip().splitlines()
    return lines[0][:120] if lines else type(exc).__name__


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)


def _fmt_ms(ms: float) -> str:
    # Loopback and LAN answers take a fraction of a millisecond; keep two figures for those.
    digits = 2 if ms < 1 else 1 if ms < 10 else 0
    return f"{ms:.{digits}f} ms"


def _gib(size: int) -> str:
    return f"{size / GIB:.1f}".removesuffix(".0")
