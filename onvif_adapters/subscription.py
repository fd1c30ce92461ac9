"""ONVIF events: one PullPoint subscription per camera, kept alive, never leaked.

Why not onvif-zeep-async's PullPointManager: it renews from fire-and-forget tasks and timer
handles nobody awaits, floors every subscription to 60 s (MINIMUM_SUBSCRIPTION_SECONDS), does
not pull, and on a restart after a lost subscription does not unsubscribe the old one. Here
one task (`EventSubscriber.run`) owns the whole life: create, pull, renew at 80 % of the
camera's own CurrentTime -> TerminationTime span (so its clock offset does not matter),
resubscribe with capped backoff when the subscription is lost (a SOAP fault on pull or
renew: the camera rebooted or dropped it), and Unsubscribe whenever it leaves a subscription
behind, on loss and on cancellation alike: a camera cannot list its subscriptions, and some
refuse new ones while forgotten ones are still running out.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from lxml import etree

from core.clock import Clock
from onvif_adapters.client import OnvifClient
from onvif_adapters.errors import OnvifError
from onvif_adapters.topics import EventKind, classify, normalize_topic

log = logging.getLogger(__name__)

EVENTS_SERVICE = "http://www.onvif.org/ver10/events/wsdl"
PULLPOINT_XADDR = "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription"
TT = "http://www.onvif.org/ver10/schema"
# Renew when this share of the subscription's lifetime has passed: one lost Renew still
# leaves time for another before the camera drops the subscription.
RENEW_AT = 0.8
# Unsubscribe on the way out is bounded: a camera that has gone away must not hold up a stop.
UNSUBSCRIBE_TIMEOUT_S = 3.0


@dataclass(frozen=True, slots=True)
class CameraEvent:
    """One event from a camera, as Pantau keeps and shows it."""

    camera: str
    kind: EventKind
    active: bool
    #: When Pantau received it (UTC); the camera's own stamp is `camera_time`.
    at: datetime
    topic: str
    source: Mapping[str, str] = field(default_factory=dict)
    data: Mapping[str, str] = field(default_factory=dict)
    camera_time: datetime | None = None
    #: PropertyOperation "Initialized": the state at subscription time, not a change.
    initial: bool = False


@dataclass(frozen=True, slots=True)
class SubscriptionSettings:
    """Timings of one camera's subscription."""

    #: Requested subscription lifetime; renewed at 80 % of what the camera grants.
    termination_s: float = 120.0
    #: Longest PullMessages long poll (also bounded by the client's call timeout).
    pull_timeout_s: float = 5.0
    message_limit: int = 100
    retry_initial_s: float = 1.0
    retry_max_s: float = 60.0


class SubscriptionLost(Exception):
    """The camera no longer knows our subscription (it rebooted, or dropped it)."""


Emit = Callable[[CameraEvent], None]


def _items(part: Any) -> dict[str, str]:
    """SimpleItem name -> value of a tt:Message Source or Data (zeep object or raw element)."""
    if part is None:
        return {}
    if isinstance(part, etree._Element):
        return {str(e.get("Name")): str(e.get("Value")) for e in part.iter(f"{{{TT}}}SimpleItem")}
    return {str(i.Name): str(i.Value) for i in (getattr(part, "SimpleItem", None) or [])}


class EventSubscriber:
    """Keeps one camera's PullPoint subscription alive until cancelled and emits its events."""

    def __init__(
        self,
        camera_id: str,
        open_client: Callable[[], OnvifClient],
        clock: Clock,
        emit: Emit,
        settings: SubscriptionSettings | None = None,
    ) -> None:
        self.camera_id = camera_id
        self._open_client = open_client
        self._clock = clock
        self._emit = emit
        self.settings = settings or SubscriptionSettings()
        #: "connecting", "subscribed", "no event service" or "retrying: <reason>".
        self.state = "connecting"
        #: Subscriptions created and renewals made, for metrics and tests.
        self.subscriptions = 0
        self.renewals = 0

    async def run(self) -> None:
        """Subscribe, pull, renew, resubscribe, until cancelled; returns if the camera has no events."""
        s = self.settings
        delay = s.retry_initial_s
        extra = {"camera": self.camera_id}
        while True:
            started = self._clock.monotonic()
            try:
                async with self._open_client() as client:
                    await client.connect()
                    if EVENTS_SERVICE not in client.camera.xaddrs:
                        self.state = "no event service"
                        log.info("camera %s: no ONVIF event service; no events", self.camera_id, extra=extra)
                        return
                    await self._subscribed(client)
            except SubscriptionLost as exc:
                reason = str(exc)
            except OnvifError as exc:
                reason = exc.detail
            if self._clock.monotonic() - started > s.termination_s:
                delay = s.retry_initial_s  # it ran a while: this is a new failure, start over
            self.state = f"retrying: {reason}"
            wait = delay * random.uniform(0.8, 1.2)
            log.warning(
                "camera %s: event subscription lost (%s); resubscribing in %.1f s",
                self.camera_id, reason, wait, extra=extra,
            )
            await asyncio.sleep(wait)
            delay = min(delay * 2, s.retry_max_s)

    async def _subscribed(self, client: OnvifClient) -> None:
        """One subscription from create to loss; always unsubscribed on the way out."""
        s = self.settings
        camera = client.camera
        events = await client.call("events service", camera.create_events_service)
        created = await client.call(
            "CreatePullPointSubscription",
            lambda: events.CreatePullPointSubscription({"InitialTerminationTime": _duration(s.termination_s)}),
        )
        # The subscription's own address: Renew, PullMessages and Unsubscribe go there.
        camera.xaddrs[PULLPOINT_XADDR] = camera.rewrite_url(str(created.SubscriptionReference.Address._value_1))
        self.subscriptions += 1
        manager: Any = None
        try:
            pullpoint = await client.call("pull point", camera.create_pullpoint_service)
            manager = await client.call(
                "subscription manager", lambda: camera.create_subscription_service("PullPointSubscription")
            )
            self.state = "subscribed"
            log.info("camera %s: subscribed to events", self.camera_id, extra={"camera": self.camera_id})
            await self._pull_and_renew(client, pullpoint, manager, self._renew_at(created))
        finally:
            if manager is not None:
                await asyncio.shield(self._unsubscribe(client, manager))

    async def _pull_and_renew(self, client: OnvifClient, pullpoint: Any, manager: Any, renew_at: float) -> None:
        s = self.settings
        loop = asyncio.get_running_loop()
        # A long poll must end well within the client's per-call timeout.
        longest = max(1.0, min(s.pull_timeout_s, client.timeout_s / 2))
        while True:
            now = loop.time()
            # Renew up to a second early rather than let a whole-second poll run past the mark.
            if renew_at - now < 1.0:
                try:
                    renewed = await client.call(
                        "Renew", lambda: manager.Renew({"TerminationTime": _duration(s.termination_s)})
                    )
                except OnvifError as exc:
                    raise SubscriptionLost(f"renewal failed: {exc.detail}") from exc
                self.renewals += 1
                renew_at = self._renew_at(renewed)
                continue
            pull = {"Timeout": timedelta(seconds=int(min(longest, renew_at - now))), "MessageLimit": s.message_limit}
            try:
                answer = await client.call("PullMessages", functools.partial(pullpoint.PullMessages, pull))
            except OnvifError as exc:
                raise SubscriptionLost(f"pull failed: {exc.detail}") from exc
            for message in getattr(answer, "NotificationMessage", None) or []:
                event = await self._event(message)
                if event is not None:
                    self._emit(event)

    def _renew_at(self, answer: Any) -> float:
        """Loop time to renew at: RENEW_AT of the span the camera granted, by its own clock."""
        current, termination = getattr(answer, "CurrentTime", None), getattr(answer, "TerminationTime", None)
        span = self.settings.termination_s
        if isinstance(current, datetime) and isinstance(termination, datetime):
            granted = (termination - current).total_seconds()
            # A camera that answers a termination at or before its current time (seen with
            # firmwares that misread relative times) would have us renew in a tight loop.
            if granted >= 2.0:
                span = granted
        return asyncio.get_running_loop().time() + span * RENEW_AT

    async def _unsubscribe(self, client: OnvifClient, manager: Any) -> None:
        try:
            async with asyncio.timeout(UNSUBSCRIBE_TIMEOUT_S):
                await client.call("Unsubscribe", manager.Unsubscribe)
        except (OnvifError, TimeoutError) as exc:
            # Already gone (a reboot) or unreachable: it will expire on the camera by itself.
            log.debug("camera %s: Unsubscribe failed: %s", self.camera_id, exc)

    async def _event(self, message: Any) -> CameraEvent | None:
        try:
            raw_topic = message.Topic._value_1
        except AttributeError:
            return None
        if not raw_topic:
            return None
        topic = normalize_topic(str(raw_topic))
        body = getattr(getattr(message, "Message", None), "_value_1", None)
        if isinstance(body, etree._Element):
            source, data = _items(body.find(f"{{{TT}}}Source")), _items(body.find(f"{{{TT}}}Data"))
            camera_time, operation = None, body.get("PropertyOperation")
        else:
            source, data = _items(getattr(body, "Source", None)), _items(getattr(body, "Data", None))
            camera_time, operation = getattr(body, "UtcTime", None), getattr(body, "PropertyOperation", None)
        kind, active = await classify(topic, message, data)
        return CameraEvent(
            camera=self.camera_id,
            kind=kind,
            active=active,
            at=self._clock.now(),
            topic=topic,
            source=source,
            data=data,
            camera_time=camera_time if isinstance(camera_time, datetime) else None,
            initial=operation == "Initialized",
        )


def _duration(seconds: float) -> str:
    """xs:duration for InitialTerminationTime / TerminationTime (relative, whole seconds)."""
    return f"PT{max(1, round(seconds))}S"
