"""Couriers: one per sink, delivering the outbox in order from the sink's cursor, at least once.

A failed delivery is retried with capped exponential backoff and jitter, and the sink's later
alerts wait behind it (order per receiver); other sinks, the cameras, the recorder and the API
do not wait. The cursor moves only after a delivery succeeded (or the sink did not want the
alert), so a restart resends at most the alert that was in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from typing import Protocol

from alerts.bus import AlertBus
from alerts.model import Alert
from core.backoff import Backoff
from core.configbase import BackoffConfig
from core.errors import PantauError
from core.waiting import stop_if_cancelled

log = logging.getLogger(__name__)

BATCH = 100
IDLE_WAIT_S = 5.0


class DeliveryFailed(PantauError):
    """A sink could not deliver an alert now; it will be tried again."""

    retriable = True
    title = "Alert delivery failed"
    kind = "alert-delivery-failed"


class Sink(Protocol):
    """A way out: it says which alerts it wants and delivers one (raising DeliveryFailed).

    `run()` keeps what the sink needs (an HTTP session, a broker connection) for as long as the
    courier runs; the courier runs it beside its delivery loop and cancels it on the way out."""

    name: str

    def wants(self, alert: Alert, camera_groups: Collection[str]) -> bool: ...

    async def deliver(self, alert: Alert) -> None: ...

    async def run(self) -> None: ...


class Courier:
    """Delivers the outbox to one sink; `run()` until cancelled."""

    def __init__(
        self, sink: Sink, bus: AlertBus, retry: BackoffConfig, groups_of: Callable[[str], Collection[str]]
    ) -> None:
        self.sink = sink
        self._bus = bus
        self._backoff = Backoff(retry)
        self._groups_of = groups_of
        self.cursor = 0
        self._prepared = False
        self.delivered: dict[str, int] = {}  # by kind
        self.failed = 0
        self.last_error: str | None = None

    @property
    def lag(self) -> int:
        """Alerts stored but not yet delivered to (or skipped by) this sink."""
        return max(0, self._bus.last_seq - self.cursor)

    async def prepare(self) -> None:
        """Read (or, for a new sink, set) the cursor. The gateway does this before anything can
        publish, so a new sink gets every alert from its first start on."""
        self.cursor = await self._bus.outbox.cursor(self.sink.name)
        self._prepared = True

    async def run(self) -> None:
        """Run the sink and deliver to it until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.sink.run(), name=f"alerts:{self.sink.name}:sink")
            await self._deliver_all()

    async def _deliver_all(self) -> None:
        outbox = self._bus.outbox
        if not self._prepared:
            await self.prepare()
        while True:
            batch = await outbox.after(self.cursor, BATCH)
            if not batch:
                await self._bus.wait_beyond(self.cursor, IDLE_WAIT_S)
                continue
            for alert in batch:
                if self.sink.wants(alert, self._groups_of(alert.camera) if alert.camera else ()):
                    await self._deliver(alert)
                self.cursor = alert.seq
                await outbox.advance(self.sink.name, alert.seq)

    async def _deliver(self, alert: Alert) -> None:
        while True:
            try:
                await self.sink.deliver(alert)
            except DeliveryFailed as exc:
                stop_if_cancelled()  # a sink's library may have swallowed the stop (core/waiting.py)
                self.failed += 1
                delay = self._backoff.next_delay()
                if self.last_error != exc.detail:
                    log.warning("alerts to %s: %s; retrying (next in %.1f s)", self.sink.name, exc.detail, delay)
                self.last_error = exc.detail
                await asyncio.sleep(delay)
                continue
            stop_if_cancelled()
            if self.last_error is not None:
                log.info("alerts to %s: delivering again", self.sink.name)
            self.last_error = None
            self._backoff.reset()
            self.delivered[alert.kind.value] = self.delivered.get(alert.kind.value, 0) + 1
            return
