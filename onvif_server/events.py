"""The events service (ONVIF Core 9, ver10 events): PullPoint subscriptions relaying what Pantau
already knows of its cameras, for an NVR that reacts to camera alarms.

Relayed: a camera going offline and coming back (tns1:VideoSource/SignalLoss, State true while it is
offline: for an NVR the picture is lost either way), and the ONVIF alarms Pantau receives from its own
cameras (camera_events/): motion (tns1:VideoSource/MotionAlarm), tamper
(tns1:VideoSource/GlobalSceneChange/ImagingService), video loss (tns1:VideoSource/SignalLoss) and
digital inputs (tns1:Device/Trigger/DigitalInput). Each message names the camera's video source
(`src_CAMERA_ID`, as GetVideoSources lists it).

A subscription belongs to the account that made it (PullMessages, Renew and Unsubscribe from any other
are refused) and sees, at each pull, only the cameras the account may see then (`view_camera`). It
lives until its termination time (at most an hour ahead; renewed by Renew) and holds at most
`QUEUE` messages, dropping its oldest. At most `MAX_SUBSCRIPTIONS` live at once and
`MAX_PER_ACCOUNT` per account: a client that forgets to unsubscribe cannot grow memory (cameras
behave the same way, and refuse new subscriptions when full). Subscriptions are in memory and end
with the process; the client creates a new one, as after a camera's reboot.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lxml import etree

from core.clock import Clock
from core.utctime import parse_rfc3339
from core.waiting import within
from onvif_server.access import OnvifAccess
from onvif_server.calls import Call, Caller, ServiceName
from onvif_server.soap import WSNT, SoapFault, SoapRequest, el, invalid_arg, text_of
from policy.decision import Action
from streams.camera import Camera

TNS1 = "http://www.onvif.org/ver10/topics"
WSTOP = "http://docs.oasis-open.org/wsn/t-1"
DIALECT = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"
SUBSCRIPTION_PARAM = "subscription"

MAX_SUBSCRIPTIONS = 64
MAX_PER_ACCOUNT = 8
QUEUE = 500
DEFAULT_TERMINATION = timedelta(seconds=60)
MAX_TERMINATION = timedelta(hours=1)
#: The longest PullMessages long poll we hold a request open for.
MAX_PULL_WAIT_S = 60.0
MAX_MESSAGE_LIMIT = 1000

#: kind -> (topic, the Data item's name); the Source item is always the video source.
TOPICS = {
    "camera_offline": ("tns1:VideoSource/SignalLoss", "State"),
    "video_loss": ("tns1:VideoSource/SignalLoss", "State"),
    "motion": ("tns1:VideoSource/MotionAlarm", "State"),
    "tamper": ("tns1:VideoSource/GlobalSceneChange/ImagingService", "State"),
    "digital_input": ("tns1:Device/Trigger/DigitalInput", "LogicalState"),
}
_DURATION = re.compile(r"P(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)")


@dataclass(frozen=True)
class OnvifNotice:
    """Something about a camera an NVR should hear: `kind` is one of TOPICS, `active` its state."""

    camera: str
    kind: str
    active: bool
    at: datetime
    #: For digital inputs: the camera's input token.
    input_token: str | None = None


@dataclass
class PullPoint:
    """One subscription: its owner, lifetime and waiting messages."""

    owner: str
    expires: datetime
    queue: deque[OnvifNotice] = field(default_factory=lambda: deque(maxlen=QUEUE))
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


def duration_or_time(text: str | None, now: datetime) -> datetime:
    """An InitialTerminationTime / TerminationTime: a relative xs:duration or an absolute time."""
    if not text:
        return now + DEFAULT_TERMINATION
    match = _DURATION.fullmatch(text)
    if match is not None and any(match.groups()):
        hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
        when = now + timedelta(hours=hours, minutes=minutes, seconds=seconds)
    else:
        try:
            when = parse_rfc3339(text)
        except ValueError as exc:
            raise invalid_arg("InvalidArgs", f"termination time {text[:40]!r} is neither a duration nor a time") \
                from exc
    if when <= now:
        raise invalid_arg("InvalidArgs", "the termination time is in the past")
    return min(when, now + MAX_TERMINATION)


def _utc(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def notification(notice: OnvifNotice) -> etree._Element:
    """wsnt:NotificationMessage for one notice."""
    topic, data_name = TOPICS[notice.kind]
    source = [el("tt:SimpleItem", Name="VideoSourceToken", Value=f"src_{notice.camera}")]
    if notice.input_token is not None:
        source.append(el("tt:SimpleItem", Name="InputToken", Value=notice.input_token))
    message = el("tt:Message", el("tt:Source", *source),
                 el("tt:Data", el("tt:SimpleItem", Name=data_name, Value="true" if notice.active else "false")),
                 UtcTime=_utc(notice.at), PropertyOperation="Changed")
    topic_node = etree.Element(f"{{{WSNT}}}Topic", nsmap={"tns1": TNS1})
    topic_node.set("Dialect", DIALECT)
    topic_node.text = topic
    return el("wsnt:NotificationMessage", topic_node, el("wsnt:Message", message))


class PullPoints:
    """Every PullPoint subscription of this process; `publish` feeds them, `run` wakes waiters at the end."""

    def __init__(self, access: OnvifAccess, clock: Clock, cameras: dict[str, Camera]) -> None:
        self._access = access
        self._clock = clock
        self._cameras = cameras
        self._points: dict[str, PullPoint] = {}
        self._closing = False

    @property
    def count(self) -> int:
        """Live subscriptions."""
        return len(self._points)

    def publish(self, notice: OnvifNotice) -> None:
        """Queue a notice in every live subscription (filtered by policy when pulled)."""
        self._sweep()
        for point in self._points.values():
            point.queue.append(notice)
            point.arrived.set()

    def _sweep(self) -> None:
        now = self._clock.now()
        for key in [k for k, p in self._points.items() if p.expires <= now]:
            del self._points[key]

    async def run(self) -> None:
        """Until cancelled; then every waiting PullMessages answers at once, so the HTTP server stops quickly."""
        try:
            while True:
                await asyncio.sleep(30)
                self._sweep()
        finally:
            self._closing = True
            for point in self._points.values():
                point.arrived.set()

    def _point(self, call: Call, caller: Caller) -> tuple[str, PullPoint]:
        key = call.subscription or ""
        self._sweep()
        point = self._points.get(key)
        if point is None:
            raise SoapFault("Sender", ("ter:InvalidArgVal", "wsrf-rw:ResourceUnknownFault"),
                            "no such subscription (expired or unsubscribed)")
        if point.owner != caller.username:
            raise SoapFault("Sender", ("ter:NotAuthorized",), "this subscription belongs to another account")
        return key, point

    async def create(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """CreatePullPointSubscription (no filter support: every relayed topic)."""
        now = self._clock.now()
        expires = duration_or_time(text_of(req.body, "tev:InitialTerminationTime"), now)
        self._sweep()
        mine = sum(1 for p in self._points.values() if p.owner == caller.username)
        if len(self._points) >= MAX_SUBSCRIPTIONS or mine >= MAX_PER_ACCOUNT:
            raise SoapFault("Receiver", ("ter:Action", "ter:TooManySubscriptions"),
                            "too many subscriptions; unsubscribe or let old ones expire")
        key = secrets.token_urlsafe(18)
        self._points[key] = PullPoint(caller.username, expires)
        await self._access.visible(call, caller, "CreatePullPointSubscription")
        address = f"{call.xaddr(ServiceName.EVENTS)}{'&' if call.camera else '?'}{SUBSCRIPTION_PARAM}={key}"
        return el("tev:CreatePullPointSubscriptionResponse",
                  el("tev:SubscriptionReference", el("wsa:Address", address)),
                  el("wsnt:CurrentTime", _utc(now)), el("wsnt:TerminationTime", _utc(expires)))

    def _visible(self, call: Call, caller: Caller, camera_id: str) -> bool:
        camera = self._cameras.get(camera_id)
        if camera is None or (call.camera is not None and camera_id != call.camera):
            return False
        return self._access.decision(call, caller, Action.VIEW_CAMERA, camera).allowed

    async def pull(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """PullMessages: what is queued, or wait up to Timeout (at most a minute) for something."""
        _, point = self._point(call, caller)
        try:
            limit = min(MAX_MESSAGE_LIMIT, max(1, int(text_of(req.body, "tev:MessageLimit") or "100")))
        except ValueError as exc:
            raise invalid_arg("InvalidArgs", "MessageLimit must be a number") from exc
        now = self._clock.now()
        wait = (duration_or_time(text_of(req.body, "tev:Timeout"), now) - now).total_seconds()
        if not point.queue and not self._closing:
            point.arrived.clear()
            await within(point.arrived.wait(), min(wait, MAX_PULL_WAIT_S))
        messages: list[etree._Element] = []
        while point.queue and len(messages) < limit:
            notice = point.queue.popleft()
            if self._visible(call, caller, notice.camera):
                messages.append(notification(notice))
        return el("tev:PullMessagesResponse", el("tev:CurrentTime", _utc(self._clock.now())),
                  el("tev:TerminationTime", _utc(point.expires)), *messages)

    async def renew(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """Renew: a new termination time."""
        _, point = self._point(call, caller)
        now = self._clock.now()
        point.expires = duration_or_time(text_of(req.body, "wsnt:TerminationTime"), now)
        return el("wsnt:RenewResponse", el("wsnt:TerminationTime", _utc(point.expires)),
                  el("wsnt:CurrentTime", _utc(now)))

    async def unsubscribe(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """Unsubscribe: gone at once."""
        key, point = self._point(call, caller)
        del self._points[key]
        point.arrived.set()
        return el("wsnt:UnsubscribeResponse")

    async def set_synchronization_point(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """Nothing to resend: our topics have no initial state message."""
        self._point(call, caller)
        return el("tev:SetSynchronizationPointResponse")

    async def get_event_properties(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """The topics we relay (ONVIF Core 9.5.6), with the fixed dialects."""
        topics = etree.Element(f"{{{WSTOP}}}TopicSet", nsmap={"tns1": TNS1})
        for topic in sorted({t for t, _ in TOPICS.values()}):
            parent = topics
            for part in topic.removeprefix("tns1:").split("/"):
                tag = f"{{{TNS1}}}{part}" if parent is topics else part
                found = parent.find(tag)
                if found is None:
                    found = etree.SubElement(parent, tag)
                parent = found
            parent.set(f"{{{WSTOP}}}topic", "true")
        return el("tev:GetEventPropertiesResponse",
                  el("tev:TopicNamespaceLocation", "http://www.onvif.org/onvif/ver10/topics/topicns.xml"),
                  el("wsnt:FixedTopicSet", True), topics,
                  el("wsnt:TopicExpressionDialect", "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"),
                  el("wsnt:TopicExpressionDialect", "http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete"),
                  el("tev:MessageContentFilterDialect", "http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter"),
                  el("tev:MessageContentSchemaLocation", "http://www.onvif.org/onvif/ver10/schema/onvif.xsd"))
