"""The lease keeper: the task that makes camera leases drive ingest and recording. Every renew_s it
renews the leases this node holds and takes free cameras up to its fair share; this node opens the
sources of (LeasedIngest) and records (LeasedRecorder) exactly the cameras it holds. A lost renewal
stops that camera's writer, then its sources, at once; a clean stop seals, closes, then releases.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import zlib
from collections.abc import Callable
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cluster.leases import Lease, LeaseBook, LeaseLost, lease_counts
from cluster.reach import DatabaseReach
from cluster.registry import list_nodes
from core.clusterconfig import ClusterConfig
from core.waiting import finish, stop_if_cancelled, uncancellable, within

log = logging.getLogger(__name__)

#: The reason of the gap between the last segment of a node whose lease ran out and the first of the
#: node that took the camera over (recorder/gaps.py).
FAILOVER_REASON = "node failover"
#: The same when the previous owner released the camera (a clean stop, or a move to even out nodes).
HANDOVER_REASON = "node handover"


class LeasedRecorder(Protocol):
    """What the keeper needs of the recorder (recorder/service.py Recorder)."""

    def recorded_cameras(self) -> list[str]: ...

    def lease_acquired(self, camera_id: str, epoch: int, because: str | None = None) -> None: ...

    async def lease_ended(self, camera_id: str, lost: bool = False) -> None: ...


class LeasedIngest(Protocol):
    """What the keeper needs of the cameras' ingest (fleet/camerafleet.py CameraFleet, wrapped by the
    composition root so live viewers are told too)."""

    def leased_cameras(self) -> list[str]: ...

    def ingest_acquired(self, camera_id: str) -> None: ...

    async def ingest_ended(self, camera_id: str, reason: str) -> None: ...


#: Why a camera's sources close here: its lease was lost (another node may hold it), or given up.
LOST_REASON = "lease lost: another node ingests the camera"
GIVEN_UP_REASON = "handed to another node"


def fair_share(cameras: int, alive_nodes: int) -> int:
    """The most cameras one node takes while others are alive to take the rest: ceil(cameras / nodes)."""
    return math.ceil(cameras / max(1, alive_nodes))


class LeaseKeeper:
    """One node's leases and the recorder that follows them; `run()` is the task (safe to cancel)."""

    def __init__(
        self,
        book: LeaseBook,
        recorder: LeasedRecorder,
        config: ClusterConfig,
        db: async_sessionmaker[AsyncSession],
        monotonic: Callable[[], float] = time.monotonic,
        reach: DatabaseReach | None = None,
        ingest: LeasedIngest | None = None,
    ) -> None:
        self.book = book
        #: Whether the database answers this node's lease calls (for /health).
        self.reach = reach or DatabaseReach()
        self.recorder = recorder
        #: The cameras' sources, opened only under a lease (None: every node ingests every camera and
        #: only recording follows the leases).
        self.ingest = ingest
        self.config = config
        self._db = db
        self._monotonic = monotonic
        #: The leases this node holds, by camera.
        self.held: dict[str, Lease] = {}
        self._renewed: dict[str, float] = {}  # camera -> monotonic time of its last renewal (or acquire)
        self._passed_over: dict[str, float] = {}  # camera -> since when it was free but over our share
        self._kept: set[str] = set()  # taken over our share because nobody else did: never handed off
        self._handed: set[str] = set()  # cameras this node handed over, until another node took them
        # The alive nodes when a camera handed over came back untaken (the nodes with fewer do not
        # record it): no more handing over until the nodes change.
        self._refused_by: frozenset[str] | None = None
        self._started = False  # after the first round: leases under our id are no previous run's
        self._round_failed = False  # a database call of the current round failed
        self._wake = asyncio.Event()

    async def run(self) -> None:
        """Keep leases every renew_s until cancelled (the first round at once: a lone node records
        from its start); on the way out seal every held camera, then release its lease."""
        try:
            while True:
                self._wake.clear()
                await self.tick()
                await within(self._wake.wait(), self.config.renew_s)
        finally:
            await uncancellable(self.release_all())

    @property
    def _call_timeout_s(self) -> float:
        """How long one database call of a round may take: a database that does not answer (a network
        partition, not a refused connection) must not hold the round past the point where this node
        has to stop recording; a slow answer under load still counts."""
        return self.config.lease_s - self.config.renew_s

    def wake(self) -> None:
        """Run the next round now (a camera was added or changed: take its lease without waiting)."""
        self._wake.set()

    async def tick(self) -> None:
        """One round: renew what is held, give up cameras no longer recorded here, hand one camera
        over when this node holds more than its share and another alive node fewer, take free ones."""
        wanted = self.ingest.leased_cameras() if self.ingest is not None else self.recorder.recorded_cameras()
        self._round_failed = False
        await self._renew(set(wanted))
        try:
            async with asyncio.timeout(self._call_timeout_s):
                alive = await self._alive_nodes()
        except (SQLAlchemyError, OSError, TimeoutError) as error:
            log.warning("node %s: could not read the registry: %s", self.book.node_id, error)
            self._unreachable(error)
            return
        share = min(self.config.capacity, fair_share(len(wanted), len(alive)))
        await self._rebalance(share, alive)
        await self._acquire(wanted, share, alive)
        self._started = True
        if not self._round_failed:
            self.reach.reached()  # a whole round without a failed database call

    def _unreachable(self, error: BaseException) -> None:
        self._round_failed = True
        self.reach.failed(error)

    async def release_all(self) -> None:
        """A clean stop: each held camera's writer seals and indexes (under the still valid lease),
        then the lease is released so another node takes the camera without waiting for expiry."""
        for camera in list(self.held):
            await self._give_up(camera)

    async def _renew(self, wanted: set[str]) -> None:
        lost: list[str] = []
        unreachable: BaseException | None = None
        for camera, lease in list(self.held.items()):
            if camera not in wanted:
                await self._give_up(camera)
                continue
            sent = self._monotonic()  # the database's expiry is at least lease_s after this
            try:
                if unreachable is not None:
                    raise unreachable  # one failed call this round: the others would wait as long
                async with asyncio.timeout(self._call_timeout_s):
                    self.held[camera] = await self.book.renew(lease)
                self._renewed[camera] = sent
            except LeaseLost:
                lost.append(camera)
            except (SQLAlchemyError, OSError, TimeoutError) as error:
                if unreachable is None:
                    log.warning("camera %s: lease renewal failed: %s", camera, error, extra={"camera": camera})
                unreachable = error
                self._unreachable(error)
                # Stop a round (renew_s) before the last round that still ends before the lease can run
                # out in the database (it was renewed at `_renewed` or later): the writers have sealed
                # by then, another node may take the camera after, and no two nodes record it at once.
                if self._monotonic() - self._renewed[camera] >= self.config.lease_s - 2 * self.config.renew_s:
                    self.reach.stopped(camera)
                    lost.append(camera)
        # At once for every camera: each seals, tries its index once and leaves what fails to the next owner.
        await asyncio.gather(*(self._lost(camera) for camera in lost))

    async def _rebalance(self, share: int, alive: list[str]) -> None:
        """Release one camera (sealed first) when this node holds more than `share` and another alive
        node holds fewer: that node takes it on its next round. One a round, so moves stay gentle."""
        movable = [camera for camera in self.held if camera not in self._kept]
        if len(self.held) <= share or not movable or self._refused_by == frozenset(alive):
            return
        try:
            counts = await lease_counts(self._db)
        except (SQLAlchemyError, OSError) as error:
            log.warning("node %s: could not count leases: %s", self.book.node_id, error)
            return
        if not any(counts.get(node, 0) < share for node in alive if node != self.book.node_id):
            return
        camera = movable[-1]
        log.info("camera %s: handed over by node %s (%d cameras held, share %d)", camera, self.book.node_id,
                 len(self.held), share, extra={"camera": camera})
        await self._give_up(camera)
        self._handed.add(camera)

    async def _acquire(self, wanted: list[str], share: int, alive: list[str]) -> None:
        free = [camera for camera in _rotated(wanted, self.book.node_id) if camera not in self.held]
        if not free:
            self._passed_over.clear()
            return
        now = self._monotonic()
        for camera in free:
            if len(self.held) >= self.config.capacity:
                break
            over_share = len(self.held) >= share
            if over_share:
                # Over our share: leave it to a node with fewer, unless nobody took it for a whole
                # lease (the others do not record it, or are full).
                since = self._passed_over.setdefault(camera, now)
                if now - since < self.config.lease_s:
                    continue
            stop_if_cancelled()  # a stop that came during the last acquire: take no more
            sent = self._monotonic()
            try:
                # To its end even if a stop comes meanwhile: a lease taken in the database but never
                # noted here would not be released on the way out (it would block the camera for a
                # whole lease).
                lease = await finish(self.book.acquire(camera, restart=not self._started))
            except (SQLAlchemyError, OSError) as error:
                log.warning("camera %s: lease acquire failed: %s", camera, error, extra={"camera": camera})
                self._unreachable(error)
                return
            self._passed_over.pop(camera, None)
            if lease is None:
                self._handed.discard(camera)  # another node holds it
                continue
            if over_share:
                self._kept.add(camera)
                if camera in self._handed:
                    log.info("camera %s: handed over but no other node took it; node %s keeps its cameras",
                             camera, self.book.node_id, extra={"camera": camera})
                    self._refused_by = frozenset(alive)
            self._handed.discard(camera)
            self.held[camera] = lease
            self._renewed[camera] = sent
            if self.ingest is not None:
                self.ingest.ingest_acquired(camera)
            self.recorder.lease_acquired(camera, lease.epoch, _gap_reason(lease))

    async def _alive_nodes(self) -> list[str]:
        """Ids of the nodes with a heartbeat within a lease and no clean stop (this one included)."""
        nodes = await list_nodes(self._db)
        alive = [n.node_id for n in nodes if n.stopped_at is None and n.heartbeat_age_s <= self.config.lease_s]
        return alive if self.book.node_id in alive else [*alive, self.book.node_id]

    async def _lost(self, camera: str) -> None:
        """Another node may record `camera` now: stop its writer at once (what it seals is refused)."""
        self.held.pop(camera, None)
        self._renewed.pop(camera, None)
        self._kept.discard(camera)
        log.warning("camera %s: lease lost; recording stops on node %s", camera, self.book.node_id,
                    extra={"camera": camera})
        await self.recorder.lease_ended(camera, lost=True)
        if self.ingest is not None:
            await self.ingest.ingest_ended(camera, LOST_REASON)

    async def _give_up(self, camera: str) -> None:
        """Seal `camera`'s recording here, then release its lease. To the end even if a stop comes
        meanwhile (a handover cut after the lease left `held` would leave it unreleased)."""
        await uncancellable(self._hand_back(camera))

    async def _hand_back(self, camera: str) -> None:
        lease = self.held.pop(camera)
        self._renewed.pop(camera, None)
        self._kept.discard(camera)
        await self.recorder.lease_ended(camera)
        if self.ingest is not None:
            # Closed before the release: the next owner's RTSP session never overlaps this one.
            await self.ingest.ingest_ended(camera, GIVEN_UP_REASON)
        try:
            async with asyncio.timeout(self._call_timeout_s):  # a database that does not answer
                await self.book.release(lease)
        except (SQLAlchemyError, OSError, TimeoutError) as error:
            log.warning("camera %s: lease release failed (it expires instead): %s", camera, error,
                        extra={"camera": camera})


def _gap_reason(lease: Lease) -> str | None:
    """Why the camera's recording has a gap before this lease's first segment: None when no other
    node held it before (the recorder's usual reason applies)."""
    if lease.failed_over_from is not None:
        log.warning("camera %s: taken over from node %s, whose lease ran out (epoch %d)",
                    lease.camera, lease.failed_over_from, lease.epoch, extra={"camera": lease.camera})
        return FAILOVER_REASON
    return HANDOVER_REASON if lease.handed_over_from is not None else None


def _rotated(cameras: list[str], node_id: str) -> list[str]:
    """`cameras` starting at a place that depends on the node, so nodes starting together mostly ask
    for different cameras first (the database settles any clash either way)."""
    if not cameras:
        return []
    start = zlib.crc32(node_id.encode()) % len(cameras)
    return cameras[start:] + cameras[:start]
