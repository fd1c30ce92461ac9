"""The lease keeper on a real PostgreSQL, with a recorder that only notes what it is told: a lone
node takes every camera in its first round, a second node gets its fair share handed over, a lost
lease stops the camera at once, a clean stop seals before it releases, a camera nobody else
records is taken over the share, what the recorder is told about gaps, and a node cut off from the
database stops every camera before its leases can run out and says why."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cluster.keeper import FAILOVER_REASON, GIVEN_UP_REASON, HANDOVER_REASON, LOST_REASON, LeaseKeeper, fair_share
from cluster.leases import Lease, LeaseBook, lease_counts
from cluster.registry import NodeRegistry
from core.clusterconfig import ClusterConfig

CAMERAS = ["c0", "c1", "c2", "c3"]


class NotingRecorder:
    """Records nothing; notes the lease events in order, and whether each camera's lease was still
    held when its writer was stopped (a clean stop must seal before it releases)."""

    def __init__(self, db: async_sessionmaker[AsyncSession], cameras: list[str]) -> None:
        self.db = db
        self.cameras = cameras
        self.recording: dict[str, int] = {}
        self.events: list[tuple[str, str, str | None]] = []
        self.held_when_stopped: list[bool] = []

    def recorded_cameras(self) -> list[str]:
        return self.cameras

    def lease_acquired(self, camera_id: str, epoch: int, because: str | None = None) -> None:
        self.recording[camera_id] = epoch
        self.events.append(("acquired", camera_id, because))

    async def lease_ended(self, camera_id: str, lost: bool = False) -> None:
        epoch = self.recording.pop(camera_id)
        async with self.db() as session:
            self.held_when_stopped.append(bool(await session.scalar(text(
                "SELECT expires_at > statement_timestamp() FROM camera_leases WHERE camera_id = :c AND epoch = :e"),
                {"c": camera_id, "e": epoch})))
        self.events.append(("ended", camera_id, None))


async def node(db: async_sessionmaker[AsyncSession], node_id: str, cameras: list[str], lease_s: float = 4,
               capacity: int = 64) -> tuple[LeaseKeeper, NotingRecorder]:
    config = ClusterConfig(lease_s=lease_s, renew_s=lease_s / 4, capacity=capacity)
    await NodeRegistry(db, node_id).register(f"http://{node_id}", capacity)
    recorder = NotingRecorder(db, cameras)
    return LeaseKeeper(LeaseBook(db, node_id, lease_s), recorder, config, db), recorder


@pytest.mark.parametrize(("cameras", "nodes", "share"), [(4, 1, 4), (4, 2, 2), (5, 2, 3), (4, 3, 2), (1, 4, 1), (0, 2, 0)])
def test_fair_share(cameras: int, nodes: int, share: int) -> None:
    assert fair_share(cameras, nodes) == share


async def test_a_second_node_gets_its_share_and_a_clean_stop_seals_then_releases(
        db: async_sessionmaker[AsyncSession]) -> None:
    a, rec_a = await node(db, "node-a", CAMERAS)
    await a.tick()
    assert sorted(rec_a.recording) == CAMERAS  # alone: every camera in the first round
    assert {because for _, _, because in rec_a.events} == {None}
    b, rec_b = await node(db, "node-b", CAMERAS)
    await b.tick()
    assert rec_b.recording == {}  # all held; B waits for A to hand some over
    for _ in range(2):
        await a.tick()  # one camera handed over a round
        await b.tick()
    assert await lease_counts(db) == {"node-a": 2, "node-b": 2}
    assert sorted([*rec_a.recording, *rec_b.recording]) == CAMERAS
    assert [because for kind, _, because in rec_b.events if kind == "acquired"] == [HANDOVER_REASON] * 2
    await a.tick()
    await b.tick()
    assert await lease_counts(db) == {"node-a": 2, "node-b": 2}  # settled: no more moves
    # A clean stop: each writer stopped while its lease still held, then released for B at once.
    await NodeRegistry(db, "node-a").mark_stopped()
    await a.release_all()
    assert rec_a.held_when_stopped == [True] * 4 and rec_a.recording == {}
    await b.tick()
    assert sorted(rec_b.recording) == CAMERAS


async def test_a_lost_lease_stops_the_camera_and_the_taker_records_a_failover(
        db: async_sessionmaker[AsyncSession]) -> None:
    a, rec_a = await node(db, "node-a", CAMERAS[:1], lease_s=2)
    await a.tick()
    b, rec_b = await node(db, "node-b", CAMERAS[:1], lease_s=2)
    await asyncio.sleep(2.2)  # A paused past its lease
    await b.tick()
    assert rec_b.events == [("acquired", "c0", FAILOVER_REASON)]
    await a.tick()  # A resumes: its renewal fails, the camera stops here at once
    assert rec_a.events[-1] == ("ended", "c0", None) and rec_a.recording == {} and a.held == {}
    assert rec_a.held_when_stopped == [False]


async def test_a_camera_no_other_node_records_is_taken_over_the_share(db: async_sessionmaker[AsyncSession]) -> None:
    a, rec_a = await node(db, "node-a", CAMERAS, lease_s=2)
    b, rec_b = await node(db, "node-b", CAMERAS[:1], lease_s=2)  # B records c0 only
    registry_b = NodeRegistry(db, "node-b")

    async def rounds(seconds: float) -> None:
        for _ in range(int(seconds / 0.5)):
            await asyncio.sleep(0.5)
            assert await registry_b.heartbeat()  # B stays alive (its membership task, in a gateway)
            await b.tick()
            await a.tick()

    await b.tick()
    await a.tick()
    assert len(rec_a.recording) == 2 and "c0" not in rec_a.recording  # its share of four between two nodes
    # Nobody takes the other two for a whole lease: A takes them over its share. Over its share, A
    # hands one camera over to B, which holds fewer; B does not record it, so it comes back after a
    # lease, and A hands nothing more over while the nodes stay the same.
    await rounds(8)
    assert sorted(rec_a.recording) == ["c1", "c2", "c3"] and rec_b.recording == {"c0": 1}
    ended = [camera for kind, camera, _ in rec_a.events if kind == "ended"]
    assert len(ended) == 1, rec_a.events
    await rounds(2)
    assert len([kind for kind, _, _ in rec_a.events if kind == "ended"]) == 1, rec_a.events


async def test_run_takes_an_added_camera_when_woken_and_releases_everything_when_cancelled(
        db: async_sessionmaker[AsyncSession]) -> None:
    keeper, recorder = await node(db, "node-a", ["c0"], lease_s=8)  # a round every 2 s
    task = asyncio.create_task(keeper.run())
    try:
        for _ in range(20):
            await asyncio.sleep(0.05)
            if "c0" in recorder.recording:
                break
        assert "c0" in recorder.recording  # the first round at once
        recorder.cameras = ["c0", "c1"]
        keeper.wake()  # the fleet added c1
        await asyncio.sleep(0.5)
        assert sorted(recorder.recording) == ["c0", "c1"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert recorder.recording == {} and recorder.held_when_stopped == [True, True]
    assert await lease_counts(db) == {}


class NotingIngest:
    """Opens nothing; notes into the recorder's event list when a camera's sources would open and
    close, and whether the lease was still held when they closed."""

    def __init__(self, recorder: NotingRecorder, cameras: list[str]) -> None:
        self.recorder = recorder
        self.cameras = cameras

    def leased_cameras(self) -> list[str]:
        return self.cameras

    def ingest_acquired(self, camera_id: str) -> None:
        self.recorder.events.append(("ingest", camera_id, None))

    async def ingest_ended(self, camera_id: str, reason: str) -> None:
        async with self.recorder.db() as session:
            held = bool(await session.scalar(text(
                "SELECT expires_at > statement_timestamp() FROM camera_leases WHERE camera_id = :c"), {"c": camera_id}))
        self.recorder.events.append(("closed" if held else "closed unheld", camera_id, reason))


async def test_ingest_opens_before_recording_and_closes_after_the_seal_before_the_release(
        db: async_sessionmaker[AsyncSession]) -> None:
    config = ClusterConfig(lease_s=4, renew_s=1)
    await NodeRegistry(db, "node-a").register("http://node-a", 64)
    recorder = NotingRecorder(db, ["c0"])  # c1 is not recorded, and still leased: someone must pull it
    keeper = LeaseKeeper(LeaseBook(db, "node-a", 4), recorder, config, db, ingest=NotingIngest(recorder, ["c0", "c1"]))
    await keeper.tick()
    # Per camera (the node asks for them in its own rotated order): sources first, then the writers.
    assert sorted(recorder.events, key=lambda e: str(e[1])) == [("ingest", "c0", None), ("acquired", "c0", None),
                                                                 ("ingest", "c1", None), ("acquired", "c1", None)]
    recorder.events.clear()
    async with db() as session:  # another node took c1 meanwhile: its sources close at once
        await session.execute(text("UPDATE camera_leases SET owner = 'node-b', epoch = epoch + 1 WHERE camera_id = 'c1'"))
        await session.commit()
    await keeper.tick()
    assert recorder.events == [("ended", "c1", None), ("closed", "c1", LOST_REASON)]
    recorder.events.clear()
    await keeper.release_all()
    assert recorder.events == [("ended", "c0", None), ("closed", "c0", GIVEN_UP_REASON)]
    assert await lease_counts(db) == {"node-b": 1}


class CutBook(LeaseBook):
    """A LeaseBook whose database calls can be cut (refused, as a closed proxy refuses them)."""

    cut = False

    async def renew(self, lease: Lease) -> Lease:
        if self.cut:
            raise ConnectionRefusedError(111, "Connect call failed")
        return await super().renew(lease)


class Ticking:
    """The keeper's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_cut_off_from_the_database_the_keeper_stops_two_rounds_before_the_lease_runs_out(
        db: async_sessionmaker[AsyncSession]) -> None:
    config = ClusterConfig(lease_s=4, renew_s=1)
    await NodeRegistry(db, "node-a").register("http://node-a", 64)
    recorder, clock = NotingRecorder(db, CAMERAS), Ticking()
    book = CutBook(db, "node-a", config.lease_s)
    keeper = LeaseKeeper(book, recorder, config, db, monotonic=clock)
    await keeper.tick()
    assert sorted(recorder.recording) == CAMERAS and keeper.reach.problem is None
    book.cut = True
    clock.now += 1
    await keeper.tick()  # one failed round: still recording (the lease has 3 s left, at least)
    assert sorted(recorder.recording) == CAMERAS
    problem = keeper.reach.problem
    assert problem is not None and problem.startswith("cannot reach the database since ")
    assert "ConnectionRefusedError" in problem and "recording stopped" not in problem
    clock.now += 1
    await keeper.tick()  # lease_s - 2 renew_s after the last renewal sent: every camera stops, lost
    assert recorder.recording == {} and keeper.held == {}
    assert sorted(c for kind, c, _ in recorder.events if kind == "ended") == CAMERAS
    assert recorder.held_when_stopped == [True] * 4  # stopped before the lease could run out
    assert f"recording stopped for 4 camera(s) whose leases could not be renewed: {', '.join(CAMERAS)}" in str(
        keeper.reach.problem)
    book.cut = False
    clock.now += 1
    await keeper.tick()  # a round without a failed call: /health passes again
    assert keeper.reach.problem is None


class LateBook(LeaseBook):
    """A LeaseBook whose acquire answers late: the lease is taken in the database, then the answer
    takes `late_s` to arrive (a stop lands in between)."""

    late_s = 0.0

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.taken = asyncio.Event()

    async def acquire(self, camera: str, restart: bool = False) -> Lease | None:
        lease = await super().acquire(camera, restart)
        self.taken.set()
        await asyncio.sleep(self.late_s)
        return lease


async def test_a_stop_while_a_lease_is_being_taken_still_releases_it(db: async_sessionmaker[AsyncSession]) -> None:
    config = ClusterConfig(lease_s=8, renew_s=2)
    await NodeRegistry(db, "node-a").register("http://node-a", 64)
    recorder = NotingRecorder(db, CAMERAS)
    book = LateBook(db, "node-a", config.lease_s)
    book.late_s = 0.3
    task = asyncio.create_task(LeaseKeeper(book, recorder, config, db).run())
    await asyncio.wait_for(book.taken.wait(), 5)
    task.cancel()  # the first lease is in the database; its answer is on the way
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    # The camera whose acquire was under way was taken, recorded and released; no other was taken.
    assert [kind for kind, _, _ in recorder.events] == ["acquired", "ended"]
    assert await lease_counts(db) == {}


class SlowSealRecorder(NotingRecorder):
    """A recorder whose writer takes a while to seal; `sealing` is set when one starts."""

    def __init__(self, db: async_sessionmaker[AsyncSession], cameras: list[str]) -> None:
        super().__init__(db, cameras)
        self.sealing = asyncio.Event()

    async def lease_ended(self, camera_id: str, lost: bool = False) -> None:
        self.sealing.set()
        await asyncio.sleep(0.3)
        await super().lease_ended(camera_id, lost)


async def test_a_stop_during_a_handover_finishes_it_and_releases_every_lease(
        db: async_sessionmaker[AsyncSession]) -> None:
    config = ClusterConfig(lease_s=8, renew_s=2)
    await NodeRegistry(db, "node-a").register("http://node-a", 64)
    recorder = SlowSealRecorder(db, CAMERAS)
    keeper = LeaseKeeper(LeaseBook(db, "node-a", config.lease_s), recorder, config, db)
    await keeper.tick()  # alone: A takes all four
    assert len(keeper.held) == 4
    await NodeRegistry(db, "node-b").register("http://node-b", 64)
    task = asyncio.create_task(keeper.run())  # over its share with B alive: it hands one over
    await asyncio.wait_for(recorder.sealing.wait(), 5)
    task.cancel()  # mid-handover: the camera has left `held`, its writer is sealing
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    assert recorder.recording == {} and recorder.held_when_stopped == [True] * 4
    assert await lease_counts(db) == {}
