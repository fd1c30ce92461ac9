"""One camera's life: connect in a worker thread, feed the hub, watch for stalls, retry."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from core.clock import Clock
from core.config import CameraConfig, HealthConfig
from core.errors import SourceError
from core.backoff import Backoff
from streams.hub import StreamHub, Subscription
from streams.packet import MediaPacket, StreamInfo
from streams.source import SourceThread
from streams.state import CameraState, CameraStatus, StatusListener
from streams.stats import StreamStats

from streams.health import HealthMonitor

log = logging.getLogger(__name__)

# A connection that delivered packets this long counts as healthy and resets the
# backoff; one that drops right after connecting (a camera at its client limit, a
# crashing encoder) keeps backing off instead of hammering the camera.
STABLE_AFTER_S = 10.0

# Readable reasons for the health monitor's problem names.
PROBLEM_TEXT = {
    "frozen": "frozen picture",
    "black": "black picture",
    "blank": "blank picture",
    "blur": "blurred picture",
    "scene_change": "camera moved or covered",
}


#: A source's own checks report here: problem name -> readable text, or None when cleared.
ProblemReport = Callable[[str, str | None], None]


class SourceResolver(Protocol):
    """Finds the URL to open on every (re)connect (an onvif:// camera asks the device).

    Injected by the composition root, so streams/ knows nothing of ONVIF. `resolve` raises
    SourceError (retried with backoff like a failed open); `watch` runs while the camera
    runs, for checks between connects (the camera's clock), and reports problems that show
    as health warnings.
    """

    async def resolve(self, report: ProblemReport) -> str: ...

    async def watch(self, report: ProblemReport) -> None: ...


class _Sampler:
    """The hub as the health monitor sees it: keyframes only, dropped by design (lossy)."""

    def __init__(self, hub: StreamHub) -> None:
        self._hub = hub

    def subscribe(self, name: str, maxsize: int | None = None) -> Subscription:
        return self._hub.subscribe(name, maxsize, lossy=True, keyframes_only=True)


class Camera:
    """Pulls one camera into its StreamHub, keeping `status` and `stats` current."""

    def __init__(
        self,
        config: CameraConfig,
        health: HealthConfig,
        hub_queue: int,
        clock: Clock,
        on_status: StatusListener | None = None,
        resolver: SourceResolver | None = None,
    ) -> None:
        self.config = config
        #: Resolves the URL to open on every connect (onvif://); None: open config.source.
        self.resolver = resolver
        self.id = config.id
        self.health_config = health
        self.clock = clock
        self.hub = StreamHub(config.id, hub_queue)
        self.stats = StreamStats(extra_dropped=lambda: self.hub.dropped_total)
        self._on_status = on_status
        self._backoff = Backoff(config.backoff)
        self._problems: tuple[str, ...] = ()
        #: Problems the source resolver reports (e.g. "clock_drift"), with their text.
        self._source_problems: dict[str, str] = {}
        self._connections = 0
        self._opened_at: float | None = None
        self._last_packet_at: float | None = None
        self._retry_due = 0.0
        self.status = CameraStatus(
            CameraState.CONNECTING if config.enabled else CameraState.DISABLED, since=clock.now()
        )

    async def run(self) -> None:
        """Ingest until cancelled; no worker thread outlives this call."""
        self._notify(None, self.status)  # the first state, for the shift report
        if not self.config.enabled:
            self._set(CameraState.DISABLED)
            await asyncio.Event().wait()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._ingest(), name=f"camera-{self.id}")
            tg.create_task(self._run_health(), name=f"health-{self.id}")
            if self.resolver is not None:
                tg.create_task(self._run_resolver_watch(self.resolver), name=f"source-checks-{self.id}")

    async def _run_resolver_watch(self, resolver: SourceResolver) -> None:
        """The resolver's own checks; a failure there must not stop ingest."""
        try:
            await resolver.watch(self.set_source_problem)
        except Exception:
            log.exception("camera %s: source checks failed; they are off", self.id)

    async def _run_health(self) -> None:
        """Image checks on sampled keyframes; a failure there must not stop ingest."""
        monitor = HealthMonitor(
            self.id, _Sampler(self.hub), self.health_config, self.clock, self._report_problems
        )
        try:
            await monitor.run()
        except Exception:
            log.exception("camera %s: health monitor failed; image checks are off", self.id)

    async def _ingest(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._set(CameraState.CONNECTING, attempt=self._backoff.attempt)
            try:
                reason = await self._connect_once()
            except SourceError as exc:
                reason = exc.detail
                if not exc.retriable:
                    self.hub.set_streams((), reason)
                    self._set(CameraState.OFFLINE, reason=reason, attempt=self._backoff.attempt + 1)
                    log.error("camera %s: %s; not retrying", self.id, reason)
                    await asyncio.Event().wait()
            if self.status.state != CameraState.OFFLINE:
                self._down(reason)
            await asyncio.sleep(max(0.0, self._retry_due - loop.time()))

    def _down(self, reason: str) -> None:
        """Mark the camera offline at once and schedule the next attempt."""
        if self.hub.streams:
            self.hub.set_streams((), reason)
        if self._was_stable():
            self._backoff.reset()
        delay = self._backoff.next_delay()
        self._retry_due = asyncio.get_running_loop().time() + delay
        retry_at = self.clock.now() + timedelta(seconds=delay)
        self._set(CameraState.OFFLINE, reason=reason, attempt=self._backoff.attempt, next_retry_at=retry_at)
        log.warning(
            "camera %s: offline (%s); retry %d in %.1f s", self.id, reason, self._backoff.attempt, delay
        )

    def _was_stable(self) -> bool:
        opened, last = self._opened_at, self._last_packet_at
        return opened is not None and last is not None and last - opened >= STABLE_AFTER_S

    async def _resolve(self) -> CameraConfig:
        """The config to open this time: the resolver's URL in place of the configured source."""
        if self.resolver is None:
            return self.config
        try:
            url = await self.resolver.resolve(self.set_source_problem)
        except SourceError:
            raise
        except Exception as exc:  # a resolver bug must not end the camera's task
            log.exception("camera %s: resolving the source failed unexpectedly", self.id)
            raise SourceError(f"resolving the source failed: unexpected {type(exc).__name__}") from exc
        return self.config.model_copy(update={"source": url})

    async def _connect_once(self) -> str:
        """One connection from open to end; returns why it ended, raises SourceError on failure."""
        cfg = await self._resolve()
        self._opened_at = self._last_packet_at = None
        ended: list[str | SourceError] = []
        worker = SourceThread(cfg, asyncio.get_running_loop(), self._opened, self._packets, ended.append)
        worker.start()
        # Cancellation waits for the thread: at most one open or one read timeout.
        limit = cfg.open_timeout_s + cfg.read_timeout_s + 2.0
        started = self.clock.monotonic()
        try:
            tick = min(1.0, cfg.stall_timeout_s / 4)
            while not worker.done.done():
                await asyncio.wait([worker.done], timeout=tick)
                if worker.done.done():
                    break
                if self._opened_at is None:
                    # PyAV bounds the open by open_timeout_s; this only guards against a
                    # library that ignores it, so the camera cannot sit in "connecting".
                    if self.clock.monotonic() - started > cfg.open_timeout_s + 5.0:
                        reason = f"open did not return within {cfg.open_timeout_s:g} s"
                        self._down(reason)
                        return reason
                    continue
                silent = self.clock.monotonic() - (self._last_packet_at or self._opened_at)
                if silent >= cfg.stall_timeout_s:
                    reason = f"stalled: no packet for {cfg.stall_timeout_s:g} s"
                    # Offline now: the thread may sit in a read for up to read_timeout_s more.
                    self._down(reason)
                    return reason
        finally:
            await worker.wait_stopped(limit)
        end = ended[0] if ended else "stopped"
        if isinstance(end, SourceError):
            raise end
        return end

    def _opened(self, streams: tuple[StreamInfo, ...]) -> None:
        """On the loop: the worker connected."""
        self._connections += 1
        if self._connections > 1:
            self.stats.note_reconnect()
        self._opened_at = self.clock.monotonic()
        self.stats.set_streams(streams)
        self.hub.set_streams(streams)
        video = next((s for s in streams if s.kind == "video"), None)
        log.info(
            "camera %s: connected, %s",
            self.id,
            f"{video.codec} {video.width}x{video.height}" if video else "audio only",
        )
        self._go_online()

    def _packets(self, batch: list[MediaPacket], dropped: int) -> None:
        """On the loop: a batch of packets from the worker."""
        if dropped:
            self.stats.note_dropped(dropped)
            log.warning("camera %s: event loop fell behind, %d packets dropped", self.id, dropped)
        if not batch:
            return
        self._last_packet_at = self.clock.monotonic()
        stats, hub = self.stats, self.hub
        for packet in batch:
            stats.update(packet)
            hub.publish(packet)

    def _report_problems(self, problems: tuple[str, ...]) -> None:
        """From the health monitor: the current image problems (empty when all clear)."""
        self._problems = tuple(problems)
        if self.status.state.up:
            self._go_online()

    def set_source_problem(self, name: str, text: str | None) -> None:
        """From the source resolver: raise (text) or clear (None) one problem, e.g. clock drift."""
        if text is None:
            if self._source_problems.pop(name, None) is None:
                return
        elif self._source_problems.get(name) == text:
            return
        else:
            self._source_problems[name] = text
        if self.status.state.up:
            self._go_online()

    def _go_online(self) -> None:
        problems = self._problems + tuple(p for p in self._source_problems if p not in self._problems)
        if problems:
            reason = ", ".join(
                self._source_problems.get(p) or PROBLEM_TEXT.get(p, p) for p in problems
            )
            self._set(CameraState.DEGRADED, reason=reason, problems=problems)
        else:
            self._set(CameraState.ONLINE)

    def _set(
        self,
        state: CameraState,
        reason: str = "",
        attempt: int = 0,
        next_retry_at: datetime | None = None,
        problems: tuple[str, ...] = (),
    ) -> None:
        """Replace the status and tell the listener; no-op when nothing changed."""
        old = self.status
        if (old.state, old.reason, old.attempt, old.next_retry_at, old.problems) == (
            state,
            reason,
            attempt,
            next_retry_at,
            problems,
        ):
            return
        since = old.since if old.state == state else self.clock.now()
        new = CameraStatus(state, since, reason, attempt, next_retry_at, problems)
        self.status = new
        if old.state != state:
            log.info("camera %s: %s -> %s%s", self.id, old.state, state, f" ({reason})" if reason else "")
        self._notify(old, new)

    def _notify(self, old: CameraStatus | None, new: CameraStatus) -> None:
        if self._on_status is None:
            return
        try:
            self._on_status(self.id, old, new)
        except Exception:  # a listener's bug must not stop the camera
            log.exception("camera %s: status listener failed", self.id)
