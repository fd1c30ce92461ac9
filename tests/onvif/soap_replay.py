"""A small ONVIF event device for the tests: replays recorded SOAP replies and checks the requests.

It serves the device service (GetSystemDateAndTime, GetServices, GetDeviceInformation; no
PTZ), a minimal Media1 service when given a `stream_uri` (one H.264 profile whose stream is
that URL, so a gateway camera with an onvif:// source goes online) and the events service with real PullPoint semantics: each
CreatePullPointSubscription gets its own address and termination time, Renew moves it,
Unsubscribe ends it, a subscription not renewed in time expires, and a PullMessages on a
subscription the device does not know is answered with a fault, as a camera does after a
reboot (`reboot()` forgets every subscription). `push()` queues a recorded notification
message (tests/onvif/recorded/events/message_*.xml) for every live subscription; a waiting
PullMessages returns at once with it. As a camera does, the device keeps each property's last
value and a new subscription's first pull carries them, marked PropertyOperation="Initialized"
(so a change pushed while no subscription was live is not lost to the client). Replies are the recorded envelopes with their times and
addresses filled in; zeep parses them for real on the client side.

Every request is checked (a SOAP 1.2 envelope, a WS-Security UsernameToken with the right
user on everything but GetSystemDateAndTime, subscription operations sent to a subscription's
own address); what is wrong is collected in `problems`, which the tests assert is empty.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from lxml import etree

RECORDED = Path(__file__).parent / "recorded" / "events"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
CONTENT_TYPE = "application/soap+xml; charset=utf-8"
# The longest a PullMessages is held open, whatever the client asks (keeps tests quick).
MAX_HOLD_S = 5.0

ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<s:Envelope xmlns:s="{SOAP12}" xmlns:tt="http://www.onvif.org/ver10/schema" '
    'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" '
    'xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:trt="http://www.onvif.org/ver10/media/wsdl" '
    'xmlns:ter="http://www.onvif.org/ver10/error" '
    'xmlns:wsrf-rw="http://docs.oasis-open.org/wsrf/rw-2">'
    "<s:Body>{body}</s:Body></s:Envelope>"
)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_duration(text: str) -> timedelta:
    """xs:duration as clients send it for subscriptions (PT60S, PT1M30S, PT0.5S)."""
    m = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?", text.strip())
    if not m:
        raise ValueError(f"unsupported duration {text!r}")
    h, mnt, s = m.groups()
    return timedelta(hours=int(h or 0), minutes=int(mnt or 0), seconds=float(s or 0))


@dataclass
class Subscription:
    id: int
    expires: datetime
    queue: list[str] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class EventDevice:
    """The replay server; `async with EventDevice() as dev:` serves on 127.0.0.1:dev.port."""

    def __init__(self, user: str = "admin", password: str = "event-Secret-7", stream_uri: str | None = None) -> None:
        self.stream_uri = stream_uri
        self.user = user
        self.password = password
        self.host = "127.0.0.1"
        self.port = 0
        self.subscriptions: dict[int, Subscription] = {}
        self.created = 0
        self.renewed = 0
        self.unsubscribed = 0
        self.faults = 0
        self.operations: list[str] = []
        self.problems: list[str] = []
        #: Each property's last pushed value (kind -> value), replayed to every new subscription.
        self.state: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    def source(self) -> str:
        """The onvif:// camera source for Pantau's config."""
        return f"onvif://{self.user}:{self.password}@{self.host}:{self.port}/"

    @property
    def live(self) -> int:
        """Subscriptions the device holds now (unexpired)."""
        now = datetime.now(UTC)
        return sum(1 for s in self.subscriptions.values() if s.expires > now)

    async def __aenter__(self) -> EventDevice:
        app = web.Application()
        app.router.add_post("/onvif/device_service", self._device)
        app.router.add_post("/onvif/events", self._events)
        app.router.add_post("/onvif/media", self._media)
        app.router.add_post("/onvif/subscription/{id}", self._subscription)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for sub in self.subscriptions.values():
            sub.wake.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- what the tests drive ------------------------------------------------------------
    def push(self, kind: str, value: str = "true") -> None:
        """Queue recorded message `message_<kind>.xml` for every live subscription."""
        xml = (RECORDED / f"message_{kind}.xml").read_text().replace("{value}", value)
        self.state[kind] = value
        for sub in self.subscriptions.values():
            sub.queue.append(xml)
            sub.wake.set()

    def reboot(self) -> None:
        """Forget every subscription, as a camera does when it restarts."""
        for sub in self.subscriptions.values():
            sub.wake.set()
        self.subscriptions.clear()

    async def wait_for(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        """Until `predicate()` holds after some request; TimeoutError otherwise."""
        async with asyncio.timeout(within):
            async with self._changed:
                await self._changed.wait_for(predicate)

    # -- SOAP handling -------------------------------------------------------------------
    async def _read(self, request: web.Request, pre_auth: frozenset[str] = frozenset()) -> tuple[str, etree._Element]:
        raw = await request.read()
        if not request.content_type.startswith("application/soap+xml"):
            self.problems.append(f"content type {request.content_type!r} is not SOAP 1.2")
        root = etree.fromstring(raw)
        if root.tag != f"{{{SOAP12}}}Envelope":
            self.problems.append(f"not a SOAP 1.2 envelope: {root.tag}")
        body = root.find(f"{{{SOAP12}}}Body")
        assert body is not None and len(body), "empty SOAP body"
        op = etree.QName(body[0]).localname
        self.operations.append(op)
        if op not in pre_auth:
            name = root.find(f".//{{{WSSE}}}UsernameToken/{{{WSSE}}}Username")
            if name is None or name.text != self.user:
                self.problems.append(f"{op} without a UsernameToken for {self.user!r}")
        return op, body[0]

    async def _reply(self, body: str, status: int = 200) -> web.Response:
        async with self._changed:
            self._changed.notify_all()
        return web.Response(status=status, text=body, content_type="application/soap+xml", charset="utf-8")

    async def _fault(self, reason: str, subcode: str = "ter:InvalidArgVal") -> web.Response:
        self.faults += 1
        body = ENVELOPE.format(
            body="<s:Fault><s:Code><s:Value>s:Sender</s:Value>"
            f"<s:Subcode><s:Value>{subcode}</s:Value></s:Subcode></s:Code>"
            f'<s:Reason><s:Text xml:lang="en">{reason}</s:Text></s:Reason></s:Fault>'
        )
        return await self._reply(body, status=400)

    async def _device(self, request: web.Request) -> web.Response:
        op, _ = await self._read(request, pre_auth=frozenset({"GetSystemDateAndTime"}))
        now = datetime.now(UTC)
        if op == "GetSystemDateAndTime":
            body = (
                "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
                "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
                "<tt:UTCDateTime>"
                f"<tt:Time><tt:Hour>{now.hour}</tt:Hour><tt:Minute>{now.minute}</tt:Minute>"
                f"<tt:Second>{now.second}</tt:Second></tt:Time>"
                f"<tt:Date><tt:Year>{now.year}</tt:Year><tt:Month>{now.month}</tt:Month>"
                f"<tt:Day>{now.day}</tt:Day></tt:Date>"
                "</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
            )
        elif op == "GetServices":
            base = f"http://{self.host}:{self.port}/onvif"
            services = [
                ("http://www.onvif.org/ver10/device/wsdl", f"{base}/device_service"),
                ("http://www.onvif.org/ver10/events/wsdl", f"{base}/events"),
            ]
            if self.stream_uri is not None:
                services.append(("http://www.onvif.org/ver10/media/wsdl", f"{base}/media"))
            body = "<tds:GetServicesResponse>" + "".join(
                f"<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{xaddr}</tds:XAddr>"
                "<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>"
                for ns, xaddr in services
            ) + "</tds:GetServicesResponse>"
        elif op == "GetDeviceInformation":
            body = (
                "<tds:GetDeviceInformationResponse><tds:Manufacturer>Pantau tests</tds:Manufacturer>"
                "<tds:Model>SOAP replay</tds:Model><tds:FirmwareVersion>1</tds:FirmwareVersion>"
                "<tds:SerialNumber>REPLAY-1</tds:SerialNumber><tds:HardwareId>1</tds:HardwareId>"
                "</tds:GetDeviceInformationResponse>"
            )
        else:
            return await self._fault(f"{op} is not served by this replay device", "ter:ActionNotSupported")
        return await self._reply(ENVELOPE.format(body=body))

    async def _media(self, request: web.Request) -> web.Response:
        op, _ = await self._read(request)
        if op == "GetProfiles" and self.stream_uri is not None:
            body = (
                '<trt:GetProfilesResponse><trt:Profiles token="Profile_1" fixed="true"><tt:Name>main</tt:Name>'
                '<tt:VideoEncoderConfiguration token="VEC_1"><tt:Name>main</tt:Name><tt:UseCount>1</tt:UseCount>'
                "<tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>640</tt:Width><tt:Height>360</tt:Height>"
                "</tt:Resolution><tt:Quality>5</tt:Quality></tt:VideoEncoderConfiguration>"
                "</trt:Profiles></trt:GetProfilesResponse>"
            )
        elif op == "GetStreamUri" and self.stream_uri is not None:
            body = (
                f"<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>{self.stream_uri}</tt:Uri>"
                "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false"
                "</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetStreamUriResponse>"
            )
        else:
            return await self._fault(f"{op} is not served by this replay device", "ter:ActionNotSupported")
        return await self._reply(ENVELOPE.format(body=body))

    async def _events(self, request: web.Request) -> web.Response:
        op, element = await self._read(request)
        if op != "CreatePullPointSubscription":
            return await self._fault(f"{op} is not served by this replay device", "ter:ActionNotSupported")
        now = datetime.now(UTC)
        initial = element.findtext("{http://www.onvif.org/ver10/events/wsdl}InitialTerminationTime")
        expires = now + (parse_duration(initial) if initial else timedelta(seconds=60))
        sub = Subscription(next(self._ids), expires)
        for kind, value in self.state.items():
            xml = (RECORDED / f"message_{kind}.xml").read_text().replace("{value}", value)
            sub.queue.append(xml.replace('PropertyOperation="Changed"', 'PropertyOperation="Initialized"'))
        self.subscriptions[sub.id] = sub
        self.created += 1
        text = (RECORDED / "create_pull_point_subscription.xml").read_text()
        text = text.replace("{address}", f"http://{self.host}:{self.port}/onvif/subscription/{sub.id}")
        text = text.replace("{current_time}", iso(now)).replace("{termination_time}", iso(expires))
        return await self._reply(text)

    def _live(self, sub_id: int) -> Subscription | None:
        sub = self.subscriptions.get(sub_id)
        if sub is not None and sub.expires <= datetime.now(UTC):
            del self.subscriptions[sub_id]  # expired: the camera has dropped it
            return None
        return sub

    async def _subscription(self, request: web.Request) -> web.Response:
        op, element = await self._read(request)
        sub = self._live(int(request.match_info["id"]))
        if sub is None:
            return await self._fault("the subscription does not exist", "wsrf-rw:ResourceUnknownFault")
        now = datetime.now(UTC)
        if op == "PullMessages":
            timeout = element.findtext("{http://www.onvif.org/ver10/events/wsdl}Timeout")
            hold = min(parse_duration(timeout).total_seconds() if timeout else 1.0, MAX_HOLD_S)
            if not sub.queue:
                sub.wake.clear()
                try:
                    async with asyncio.timeout(hold):
                        await sub.wake.wait()
                except TimeoutError:
                    pass
                if self._live(sub.id) is None:
                    return await self._fault("the subscription does not exist", "wsrf-rw:ResourceUnknownFault")
            messages, sub.queue = sub.queue, []
            text = (RECORDED / "pull_messages.xml").read_text()
            text = text.replace("{current_time}", iso(datetime.now(UTC)))
            text = text.replace("{termination_time}", iso(sub.expires)).replace("{messages}", "".join(messages))
            return await self._reply(text)
        if op == "Renew":
            wanted = element.findtext("{http://docs.oasis-open.org/wsn/b-2}TerminationTime") or "PT60S"
            if wanted.startswith("P"):
                sub.expires = now + parse_duration(wanted)
            else:
                sub.expires = datetime.fromisoformat(wanted.replace("Z", "+00:00"))
            self.renewed += 1
            body = (
                f"<wsnt:RenewResponse><wsnt:TerminationTime>{iso(sub.expires)}</wsnt:TerminationTime>"
                f"<wsnt:CurrentTime>{iso(now)}</wsnt:CurrentTime></wsnt:RenewResponse>"
            )
            return await self._reply(ENVELOPE.format(body=body))
        if op == "Unsubscribe":
            del self.subscriptions[sub.id]
            self.unsubscribed += 1
            return await self._reply(ENVELOPE.format(body="<wsnt:UnsubscribeResponse/>"))
        return await self._fault(f"{op} is not served by this replay device", "ter:ActionNotSupported")
