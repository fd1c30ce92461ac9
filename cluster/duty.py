"""The cluster duty: what the room needs done once, whatever the number of nodes (the alert couriers,
the desk's patrol watch, the case watch, the MQTT trigger source), runs on exactly
one node at a time: the one whose database session holds the duty's advisory lock
(core/sessionlock.py, the same primitive as the checkpoint signer's).

Every node's first worker runs a `DutyHolder`. It tries to take the lock every renew_s; while it
holds it, it runs the duties in a TaskGroup of its own and checks its session every renew_s. The
session has `idle_session_timeout` = lease_s: a holder that is paused or cut off has its session ended
by the server, and another node takes the duty at its next round (within about lease_s + renew_s); a
holder killed outright loses its session at once. A holder whose check fails, or does not answer
in time (the larger of renew_s and (lease_s - renew_s) / 2), cancels its duties at once, before the
server can give the lock to anyone else, and waits a lease before asking again (the others first).

Across a handover delivery is at least once, not exactly once: a courier's cursor is in the database
(`alert_cursors`), moved after each delivery, so the next holder resends at most the alert the old
one was delivering (or, after a pause, the old one may finish one delivery before it notices).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.clusterconfig import ClusterConfig
from core.sessionlock import SessionLock, holder_name

log = logging.getLogger(__name__)

#: Not the access log's keys (policy/audit/): any constant, the same on every node.
DUTY_LOCK_KEY = 0x70616E74617564  # "pantaud"
#: The holder's session's application_name is this and its node id (cut to 63 bytes by PostgreSQL).
APPLICATION_PREFIX = "pantau duty "

#: Starts the duties in the TaskGroup it is given (the holder cancels them when the duty is lost).
StartDuties = Callable[[asyncio.TaskGroup], Awaitable[None]]


class DutyHolder:
    """This node's part in the duty: `run()` until cancelled; `holding` says whether it has it now."""

    def __init__(self, engine: AsyncEngine, node_id: str, config: ClusterConfig, start: StartDuties) -> None:
        self.node_id = node_id
        self._renew_s = config.renew_s
        self._lease_s = config.lease_s
        # A check started renew_s after the last answered one ends before lease_s has passed since that
        # one (renew_s < lease_s / 2): the duties stop before the server can end the session and give
        # the lock to another node.
        self._check_s = max(config.renew_s, (config.lease_s - config.renew_s) / 2)
        self._start = start
        self._lock = SessionLock(engine, DUTY_LOCK_KEY, config.lease_s, "cluster duty",
                                 application_name=APPLICATION_PREFIX + node_id)
        self.holding = False
        #: Terms this node has held the duty (the tests count handovers).
        self.terms = 0

    async def run(self) -> None:
        """Take the duty whenever it is free and run it while held; on the way out the duties stop
        and the lock is released, so another node takes over at its next round."""
        try:
            while True:
                if await self._take() and await self._serve():
                    # Lost (paused, cut off, session ended): the other nodes ask first for a lease.
                    await asyncio.sleep(self._lease_s)
                await asyncio.sleep(self._renew_s)
        finally:
            self.holding = False
            await self._lock.close()

    async def _take(self) -> bool:
        try:
            async with asyncio.timeout(self._lease_s):
                return await self._lock.session() is not None
        except (TimeoutError, SQLAlchemyError, OSError) as error:  # the database is away, or too slow
            log.warning("cluster duty: could not ask for the lock (%s); trying again", error or type(error).__name__)
            await self._lock.abandon()
            return False

    async def _still_held(self) -> bool:
        """The session answers in time: nobody else can hold the lock yet."""
        try:
            async with asyncio.timeout(self._check_s):
                # Not `session()`: a lost session ends this term even if the lock is free again, so the
                # duties stop whenever another node may have run them meanwhile.
                return await self._lock.alive()
        except (TimeoutError, SQLAlchemyError, OSError) as error:  # any failure means: stop at once
            log.warning("cluster duty: the lock's session did not answer (%s)", error or type(error).__name__)
            await self._lock.abandon()
            return False

    async def _serve(self) -> bool:
        """Run the duties until the lock is lost (True) or cancelled: they are cancelled and awaited first."""
        self.holding = True
        self.terms += 1
        log.info("cluster duty: node %s runs the room's duties now", self.node_id, extra={"node": self.node_id})
        duties = asyncio.create_task(self._duties(), name="cluster-duty:tasks")
        try:
            while not duties.done():
                await asyncio.wait({duties}, timeout=self._renew_s)
                if not duties.done() and not await self._still_held():
                    log.warning("cluster duty: lost (session ended: paused or cut off?); stopping the duties",
                                extra={"node": self.node_id})
                    return True
            duties.result()  # a duty that failed fails the node, as it would without the duty
            return False
        finally:
            self.holding = False
            duties.cancel()
            with suppress(asyncio.CancelledError):
                await duties

    async def _duties(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            await self._start(tasks)
            await asyncio.Event().wait()  # until cancelled


async def duty_node(conn: AsyncConnection) -> str | None:
    """The node id holding the duty now as the database sees it (cut to what application_name keeps),
    or None when no node holds it."""
    name = await holder_name(conn, DUTY_LOCK_KEY)
    if name is None:
        return None
    return name.removeprefix(APPLICATION_PREFIX)


def is_duty_node(node_id: str, shown: str | None) -> bool:
    """Whether `shown` (from `duty_node`) names `node_id`; a long id is cut in application_name."""
    if shown is None:
        return False
    return node_id == shown or (len(APPLICATION_PREFIX + shown) >= 63 and node_id.startswith(shown))
