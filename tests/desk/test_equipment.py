"""Equipment probes against real parts: TCP servers on loopback, the system ping, a real
directory's free space, a real Recorder and real databases."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.clock import SystemClock
from core.config import Settings
from core.db import make_engine, make_sessionmaker
from core.deskconfig import EquipmentItem
from desk.equipment import PING_MISSING, EquipmentProbes, Reading, StorageFacts, database_ping, recorder_storage
from recorder.reports import LogOnlySink
from recorder.service import Recorder

TIMEOUT_S = 0.5
DEAD_DB = "postgresql+asyncpg://postgres@127.0.0.1:1/x"


def item(item_id: str, **probe: Any) -> EquipmentItem:
    return EquipmentItem(id=item_id, name=item_id, probe=probe or None)


async def answered() -> None:
    """A database that always answers at once (for the cases about the other probes)."""


def tmp_disk(path: Path, floor: int, writable: bool = True) -> StorageFacts:
    usage = shutil.disk_usage(path)
    return StorageFacts(str(path), usage.free, usage.total, floor, writable)


def probes(items: list[EquipmentItem], timeout_s: float = TIMEOUT_S, **kw: Any) -> EquipmentProbes:
    kw.setdefault("storage", lambda: StorageFacts("/nowhere", 0, 0, 0, False))
    kw.setdefault("database", answered)
    return EquipmentProbes(items, timeout_s, **kw)


async def probe_one(equipment: EquipmentItem, **kw: Any) -> tuple[Reading, float]:
    start = time.perf_counter()
    readings = await probes([equipment], **kw).probe_all()
    return readings[equipment.id], time.perf_counter() - start


@pytest.fixture
async def live_port() -> AsyncIterator[int]:
    """A TCP server on loopback that accepts and hangs up."""

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    """A loopback port nobody listens on any more."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def blackhole_port() -> Iterator[int]:
    """A loopback port whose SYNs are dropped: a listener with a full accept queue that never accepts.

    A documentation address (192.0.2.1, 10.255.255.1) is not a reliable blackhole: sandboxes and CI
    proxies answer or refuse some of them at once, so the timeout would go untested."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers: list[socket.socket] = []
    try:
        for _ in range(16):
            filler = socket.socket()
            fillers.append(filler)
            filler.settimeout(0.2)
            try:
                filler.connect(("127.0.0.1", port))
            except TimeoutError:
                break  # the queue is full: the kernel drops further SYNs
        else:
            pytest.fail("could not fill the accept queue of a loopback listener")
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


async def test_tcp_to_a_listening_server_connects_with_latency(live_port: int) -> None:
    reading, _ = await probe_one(item("nvr", tcp=f"127.0.0.1:{live_port}"))
    assert reading.ok and reading.kind == "tcp" and reading.target == f"127.0.0.1:{live_port}"
    assert reading.detail.startswith("connected in ") and reading.detail.endswith(" ms")
    assert reading.latency_ms is not None and 0 <= reading.latency_ms < TIMEOUT_S * 1000


async def test_tcp_to_a_closed_port_is_refused_at_once(closed_port: int) -> None:
    reading, took = await probe_one(item("switch", tcp=f"127.0.0.1:{closed_port}"))
    assert not reading.ok
    assert reading.detail == "connection refused"
    assert reading.latency_ms is None
    assert took < TIMEOUT_S / 2


async def test_tcp_to_a_blackhole_times_out(blackhole_port: int) -> None:
    reading, took = await probe_one(item("wall", tcp=f"127.0.0.1:{blackhole_port}"))
    assert not reading.ok
    assert reading.detail == "timed out after 0.5 s"
    assert TIMEOUT_S * 0.9 <= took < TIMEOUT_S + 1


async def test_a_dead_host_does_not_delay_the_others(blackhole_port: int, live_port: int, tmp_path: Path) -> None:
    items = [
        item("dead-1", tcp=f"127.0.0.1:{blackhole_port}"),
        item("dead-2", tcp=f"127.0.0.1:{blackhole_port}"),
        item("db", database=True),
        item("disk", disk=True),
        item("live", tcp=f"127.0.0.1:{live_port}"),
    ]
    start = time.perf_counter()
    readings = await probes(items, storage=lambda: tmp_disk(tmp_path, 0)).probe_all()
    took = time.perf_counter() - start
    # Two dead hosts probed one after the other would take twice the timeout.
    assert took < TIMEOUT_S + 1 and took < 2 * TIMEOUT_S
    assert [r.ok for r in readings.values()] == [False, False, True, True, True]
    assert list(readings) == ["dead-1", "dead-2", "db", "disk", "live"]


needs_ping = pytest.mark.skipif(
    shutil.which("ping") is None, reason="the system ping is not installed (Debian package iputils-ping)"
)


@needs_ping
async def test_icmp_to_loopback_answers() -> None:
    reading, _ = await probe_one(item("router", icmp="127.0.0.1"), timeout_s=3)
    assert reading.ok, reading.detail
    assert reading.kind == "icmp" and reading.target == "127.0.0.1"
    assert reading.latency_ms is not None and reading.latency_ms >= 0
    assert reading.detail.startswith("answered in ")


@needs_ping
async def test_icmp_to_an_unroutable_address_fails_within_the_timeout() -> None:
    reading, took = await probe_one(item("phone", icmp="10.255.255.1"), timeout_s=1)
    assert not reading.ok
    assert reading.detail in ("no answer", "timed out after 1 s") or "unreachable" in reading.detail
    assert took < 1 + 1


async def test_icmp_without_ping_says_which_package(tmp_path: Path) -> None:
    reading, _ = await probe_one(item("router", icmp="127.0.0.1"), ping_command=str(tmp_path / "no-ping"))
    assert not reading.ok
    assert reading.detail == PING_MISSING == "ping is not installed (Debian package iputils-ping)"


async def test_icmp_that_hangs_is_killed_at_the_timeout(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    hanging = tmp_path / "ping"
    hanging.write_text(f'#!/bin/sh\necho $$ > {pid_file}\nexec sleep 30\n')
    hanging.chmod(0o755)
    reading, took = await probe_one(item("router", icmp="127.0.0.1"), ping_command=str(hanging))
    assert not reading.ok and reading.detail == "timed out after 0.5 s"
    assert took < TIMEOUT_S + 1
    with pytest.raises(ProcessLookupError):  # killed and reaped, not left running
        os.kill(int(pid_file.read_text()), 0)


async def test_disk_above_and_below_the_floor(tmp_path: Path) -> None:
    free = shutil.disk_usage(tmp_path).free
    above, _ = await probe_one(item("disk", disk=True), storage=lambda: tmp_disk(tmp_path, free // 2))
    assert above.ok and above.target == str(tmp_path) and above.kind == "disk"
    assert " GiB free of " in above.detail and "floor" not in above.detail
    below, _ = await probe_one(item("disk", disk=True), storage=lambda: tmp_disk(tmp_path, free * 2))
    assert not below.ok and "below the floor of" in below.detail
    read_only, _ = await probe_one(item("disk", disk=True), storage=lambda: tmp_disk(tmp_path, 0, writable=False))
    assert not read_only.ok and read_only.detail.startswith("not writable")


async def test_disk_that_cannot_be_read(tmp_path: Path) -> None:
    reading, _ = await probe_one(item("disk", disk=True), storage=lambda: tmp_disk(tmp_path / "gone", 0))
    assert not reading.ok and reading.detail == "no such file or directory"


async def test_disk_from_a_real_recorder(tmp_path: Path) -> None:
    storage = tmp_path / "recordings"
    storage.mkdir()
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'pantau.db'}")
    try:
        for floor, ok in ((0, True), (shutil.disk_usage(storage).total + 1, False)):
            config = Settings(storage={"path": storage}, recording={"min_free_bytes": floor})
            recorder = Recorder(config, make_sessionmaker(engine), SystemClock(), {}, LogOnlySink())
            reading, _ = await probe_one(item("disk", disk=True), storage=recorder_storage(recorder))
            assert reading.ok is ok and reading.target == str(storage), reading.detail
        recorder.state.trip(f"storage full at {storage}")
        reading, _ = await probe_one(item("disk", disk=True), storage=recorder_storage(recorder))
        assert not reading.ok and reading.detail == f"storage full at {storage}"
    finally:
        await engine.dispose()


async def test_database_answers(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        reading, _ = await probe_one(item("db", database=True), timeout_s=3, database=database_ping(engine))
    finally:
        await engine.dispose()
    assert reading.ok and reading.kind == "database" and reading.target == "database"
    assert reading.detail.startswith("answered in ") and reading.latency_ms is not None


async def test_dead_database_fails_briefly_within_the_timeout() -> None:
    engine = make_engine(DEAD_DB)
    try:
        reading, took = await probe_one(item("db", database=True), database=database_ping(engine))
    finally:
        await engine.dispose()
    assert not reading.ok and reading.detail == "connection refused"
    assert took < TIMEOUT_S + 1


async def test_database_that_hangs_times_out() -> None:
    async def hangs() -> None:
        await asyncio.Event().wait()

    reading, took = await probe_one(item("db", database=True), database=hangs)
    assert not reading.ok and reading.detail == "timed out after 0.5 s"
    assert took < TIMEOUT_S + 1


async def test_reading_as_dict_is_json(live_port: int) -> None:
    reading, _ = await probe_one(item("nvr", tcp=f"127.0.0.1:{live_port}"))
    data = json.loads(json.dumps(reading.as_dict()))
    assert set(data) == {"item", "kind", "target", "ok", "detail", "latency_ms"}
    assert data["item"] == "nvr" and data["ok"] is True


probe_choices = st.sampled_from([None, {"database": True}, {"disk": True}])


@settings(max_examples=50, deadline=None)
@given(st.lists(probe_choices, max_size=12))
def test_items_without_a_probe_are_absent(chosen: list[dict[str, bool] | None]) -> None:
    items = [item(f"item-{n}", **(probe or {})) for n, probe in enumerate(chosen)]
    readings = asyncio.run(probes(items, storage=lambda: StorageFacts("/srv", 1, 2, 0, True)).probe_all())
    assert list(readings) == [i.id for i in items if i.probe is not None]
    assert all(reading.item == key and reading.ok for key, reading in readings.items())
