"""The bus: every part publishes notices here; each becomes an alert in the outbox, then goes to
the live listeners (SSE) and wakes the couriers (webhooks, MQTT).

`publish` only queues (bounded; never blocks, never raises), so a camera or the recorder is never
held up by a database or a receiver. `run` turns notices into alerts (id, time, severity, both
summaries, credentials scrubbed from every text), holds back a flapping camera's changes
(alerts/debounce.py), stores them in order and hands them on. It runs on the event loop, and so
must every publisher.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError

from alerts.catalogue import CATALOGUE, summarize
from alerts.debounce import STATE_KINDS, FlapFilter
from alerts.model import Alert, uuid7
from alerts.outbox import Outbox
from core.alerting import AlertKind, Notice, Scalar
from core.alertsconfig import AlertsConfig
from core.clock import Clock
from core.redact import scrub
from core.waiting import finish, within

log = logging.getLogger(__name__)

QUEUE = 10_000
BATCH = 200
RETRY_S = 2.0
TICK_S = 1.0
PRUNE_EVERY_S = 3600.0


def _clean(details: dict[str, object]) -> dict[str, Scalar]:
    """Plain values only; every text scrubbed of URL credentials (a camera's error may quote its URL)."""
    out: dict[str, Scalar] = {}
    for key, value in details.items():
        if isinstance(value, str):
            out[key] = scrub(value)
        elif value is None or isinstance(value, (bool, int, float)):
            out[key] = value
        else:
            out[key] = scrub(str(value))
    return out


class Listener:
    """A live reader of new alerts (an SSE client): bounded; the oldest go when it lags."""

    def __init__(self, wants: Callable[[Alert], bool], size: int) -> None:
        self.wants = wants
        self.queue: asyncio.Queue[Alert | None] = asyncio.Queue(size)
        self.dropped = 0

    def offer(self, alert: Alert | None) -> None:
        if alert is not None and not self.wants(alert):
            return
        while True:
            try:
                self.queue.put_nowait(alert)
                return
            except asyncio.QueueFull:
                self.queue.get_nowait()
                self.dropped += 1


class AlertBus:
    """The one bus (a `core.alerting.Publisher`)."""

    def __init__(self, config: AlertsConfig, outbox: Outbox, clock: Clock) -> None:
        self.config = config
        self.outbox = outbox
        self._clock = clock
        self._queue: asyncio.Queue[Notice] = asyncio.Queue(QUEUE)
        self._flaps = FlapFilter(config.flap_window_s, config.flap_threshold, config.flap_hold_down_s)
        self._listeners: set[Listener] = set()
        #: The newest seq stored; couriers wait on `_stored` for it to pass theirs.
        self.last_seq = 0
        self._stored = asyncio.Condition()
        self.dropped = 0
        self.published: dict[AlertKind, int] = {}

    def publish(self, notice: Notice) -> None:
        if not self.config.enabled:
            return
        try:
            self._queue.put_nowait(notice)
        except asyncio.QueueFull:
            self.dropped += 1
            log.error("alert queue full; %s of %s not published", notice.kind.value, notice.camera or "the gateway")

    @contextmanager
    def listen(self, wants: Callable[[Alert], bool], size: int = 256) -> Iterator[Listener]:
        """New alerts that `wants` accepts, while the block runs; None when the bus stops."""
        listener = Listener(wants, size)
        self._listeners.add(listener)
        try:
            yield listener
        finally:
            self._listeners.discard(listener)

    async def wait_beyond(self, seq: int, timeout_s: float) -> None:
        """Return once an alert with a seq above `seq` is stored, or after `timeout_s`."""
        async with self._stored:
            await within(self._stored.wait_for(lambda: self.last_seq > seq), timeout_s)

    async def run(self) -> None:
        """Store and hand on alerts until cancelled; what is queued then is stored first."""
        self.last_seq = await self.outbox.last_seq()
        prune_at = self._clock.monotonic()
        pending: list[Alert] = []  # admitted, not stored yet: stored on the way out if a stop comes
        try:
            while True:
                notices = await self._next_batch()
                now = self._clock.monotonic()
                alerts = [a for n in notices for a in self._admit(n, now)]
                alerts += [self._alert(Notice(kind, camera, details)) for camera, kind, details in self._flaps.settled(now)]
                if alerts:
                    pending = alerts
                    await self._store(alerts)
                    pending = []
                if now >= prune_at:
                    prune_at = now + PRUNE_EVERY_S
                    await self._prune()
        except asyncio.CancelledError:
            rest = pending + [a for n in self._drain() for a in self._admit(n, self._clock.monotonic())]
            if rest:
                await asyncio.shield(self._store(rest, retries=1))
            for listener in list(self._listeners):
                listener.offer(None)
            raise

    async def _next_batch(self) -> list[Notice]:
        first = await within(self._queue.get(), TICK_S)
        if first is None:
            return []
        return [first, *self._drain(BATCH - 1)]

    def _drain(self, limit: int | None = None) -> list[Notice]:
        out: list[Notice] = []
        while not self._queue.empty() and (limit is None or len(out) < limit):
            out.append(self._queue.get_nowait())
        return out

    def _admit(self, notice: Notice, now: float) -> list[Alert]:
        """The alerts one notice gives: itself, nothing (held back), or `camera.flapping`."""
        if notice.kind in STATE_KINDS and notice.camera is not None:
            verdict = self._flaps.change(notice.camera, notice.kind, notice.details, now)
            if verdict.flapping:
                return [self._alert(Notice(AlertKind.CAMERA_FLAPPING, notice.camera,
                                           {"changes": verdict.changes, "window_s": int(self.config.flap_window_s)}))]
            if not verdict.send:
                return []
        return [self._alert(notice)]

    def _alert(self, notice: Notice) -> Alert:
        at = self._clock.now()
        details = _clean(dict(notice.details))
        return Alert(
            seq=0, id=uuid7(at), kind=notice.kind, at=at, severity=CATALOGUE[notice.kind].severity,
            summary=summarize(notice.kind, notice.camera, details), camera=notice.camera, details=details,
        )

    async def _store(self, alerts: list[Alert], retries: int | None = None) -> None:
        attempt = 0
        while True:
            try:
                stored = await finish(self.outbox.append(alerts))  # a stop waits for the append
                break
            except (SQLAlchemyError, OSError) as exc:
                attempt += 1
                if retries is not None and attempt > retries:
                    log.error("%d alert(s) could not be stored: %s", len(alerts), exc)
                    return
                log.warning("alert outbox unavailable (%s); retrying in %.0f s", exc, RETRY_S)
                await asyncio.sleep(RETRY_S)
        for alert in stored:
            self.published[alert.kind] = self.published.get(alert.kind, 0) + 1
            log.info("alert %s %s: %s", alert.kind.value, alert.camera or "-", alert.summary["en"])
            for listener in list(self._listeners):
                listener.offer(alert)
        async with self._stored:
            self.last_seq = max(self.last_seq, stored[-1].seq)
            self._stored.notify_all()

    async def _prune(self) -> None:
        try:
            gone = await self.outbox.prune(self._clock.now() - timedelta(hours=self.config.keep_h))
        except (SQLAlchemyError, OSError) as exc:
            log.warning("alert outbox prune failed: %s", exc)
            return
        if gone:
            log.info("alert outbox: %d alert(s) older than %.0f h removed", gone, self.config.keep_h)
