"""One camera's life: its main stream and, when it has one, its sub-stream (each a `Feed`), the
health checks on its picture, and the state that follows from them."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Protocol

from core.clock import Clock
from core.config import CameraConfig, HealthConfig
from streams.destination import DestinationGuard
from streams.feed import Feed, ProblemReport, StreamName, UrlResolver
from streams.hub import StreamHub, Subscription
from streams.openpace import OpenPace
from streams.state import CameraState, CameraStatus, StatusListener
from streams.stats import StreamStats

from streams.health import HealthMonitor

__all__ = ["Camera", "ProblemReport", "SourceResolver", "StreamName"]

log = logging.getLogger(__name__)

# Readable reasons for the health monitor's problem names.
PROBLEM_TEXT = {
    "frozen": "frozen picture",
    "black": "black picture",
    "blank": "blank picture",
    "blurred": "blurred picture",
    "scene_changed": "camera moved or covered",
    "undecodable": "the picture does not decode",
}
#: The camera problem raised while its sub-stream is down (the main stream still up): degraded.
SUBSTREAM_DOWN = "substream"


class SourceResolver(UrlResolver, Protocol):
    """Finds the URL to open on every (re)connect (an onvif:// camera asks the device).

    Injected by the composition root, so streams/ knows nothing of ONVIF. `resolve` raises
    SourceError (retried with backoff like a failed open); `watch` runs while the camera
    runs, for checks between connects (the camera's clock), and reports problems that show
    as health warnings.
    """

    async def watch(self, report: ProblemReport) -> None: ...


class _Sampler:
    """The hub as the health monitor sees it: keyframes only, dropped by design (lossy)."""

    def __init__(self, hub: StreamHub) -> None:
        self._hub = hub

    def subscribe(self, name: str, maxsize: int | None = None) -> Subscription:
        return self._hub.subscribe(name, maxsize, lossy=True, keyframes_only=True)


class Camera:
    """Pulls one camera into its StreamHub (and its sub-stream into another), keeping `status` current.

    The camera is up while its main stream is; a sub-stream that is down makes it degraded
    ("sub-stream offline"), never offline.
    """

    def __init__(
        self,
        config: CameraConfig,
        health: HealthConfig,
        hub_queue: int,
        clock: Clock,
        on_status: StatusListener | None = None,
        resolver: SourceResolver | None = None,
        sub_resolver: UrlResolver | None = None,
        pace: OpenPace | None = None,
        guard: DestinationGuard | None = None,
    ) -> None:
        self.config = config
        #: Resolves the main stream's URL on every connect (onvif://); None: open config.source.
        self.resolver = resolver
        self.id = config.id
        self.health_config = health
        self.clock = clock
        self.main = Feed(StreamName.MAIN, config, hub_queue, clock, self, resolver, self.set_source_problem, pace,
                         guard)
        #: The sub-stream (config.substream), or None.
        self.sub: Feed | None = None
        if config.substream is not None:
            # The main stream's resolver watches the device's clock; the sub-stream's only resolves.
            self.sub = Feed(StreamName.SUB, config.model_copy(update={"source": config.substream}), hub_queue,
                            clock, self, sub_resolver, pace=pace, guard=guard)
        self._on_status = on_status
        self._problems: tuple[str, ...] = ()
        #: Problems the source resolver reports (e.g. "clock_drift"), with their text.
        self._source_problems: dict[str, str] = {}
        self.status = CameraStatus(
            CameraState.CONNECTING if config.enabled else CameraState.DISABLED, since=clock.now()
        )

    @property
    def hub(self) -> StreamHub:
        """The main stream's hub (recording, snapshots, full-screen viewing)."""
        return self.main.hub

    @property
    def stats(self) -> StreamStats:
        """The main stream's statistics."""
        return self.main.stats

    @property
    def feeds(self) -> tuple[Feed, ...]:
        """The main stream's feed, then the sub-stream's if there is one."""
        return (self.main,) if self.sub is None else (self.main, self.sub)

    def feed(self, name: StreamName | str) -> Feed | None:
        """The feed of stream `name` ("main" or "sub"); None when the camera has no such stream."""
        return self.main if name == StreamName.MAIN else self.sub if name == StreamName.SUB else None

    @property
    def health_feed(self) -> Feed:
        """The stream the image checks sample: the sub-stream when there is one (cheaper to decode)."""
        return self.sub or self.main

    async def run(self) -> None:
        """Ingest until cancelled; no worker thread outlives this call."""
        self._notify(None, self.status)  # the first state, for the shift report
        if not self.config.tls_verify:
            log.warning("camera %s: tls_verify is false: an rtsps:// certificate is not checked, whoever sits "
                        "between the gateway and the camera can read and alter its video", self.id,
                        extra={"camera": self.id})
        if not self.config.enabled:
            self._set(CameraState.DISABLED)
            await asyncio.Event().wait()
        async with asyncio.TaskGroup() as tg:
            for feed in self.feeds:
                tg.create_task(feed.run(), name=f"camera-{self.id}" + ("" if feed is self.main else f"-{feed.name}"))
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
            self.id, _Sampler(self.health_feed.hub), self.health_config, self.clock, self._report_problems
        )
        try:
            await monitor.run()
        except Exception:
            log.exception("camera %s: health monitor failed; image checks are off", self.id)

    def ingested_elsewhere(self, reason: str) -> None:
        """Several nodes: another node ingests this camera (call after `run()` was cancelled, or
        before it ever ran): its feeds are parked and its state is remote, not offline."""
        for feed in self.feeds:
            feed.parked(reason)
        if self.config.enabled:
            self._set(CameraState.REMOTE, reason=reason)

    # ---- what the feeds tell -------------------------------------------------------------
    def feed_connecting(self, feed: Feed) -> None:
        """A feed starts a connection attempt: the camera connects if that is its main stream."""
        if feed is self.main:
            self._set(CameraState.CONNECTING, attempt=feed.backoff.attempt)

    def feed_up(self, feed: Feed) -> None:
        """A feed delivers: online (or degraded), or a sub-stream's problem cleared."""
        if feed is self.main:
            self._go_online()
        else:
            self.set_source_problem(SUBSTREAM_DOWN, None)

    def feed_down(self, feed: Feed, reason: str, next_retry_at: datetime | None) -> None:
        """A feed went down: the camera is offline if that was its main stream, else degraded."""
        if feed is self.main:
            attempt = feed.backoff.attempt
            self._set(CameraState.OFFLINE, reason=reason, attempt=attempt, next_retry_at=next_retry_at)
        else:
            self.set_source_problem(SUBSTREAM_DOWN, f"sub-stream offline ({reason})")

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
