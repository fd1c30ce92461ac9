"""WS-Discovery responder (WS-Discovery 2005/04, as ONVIF Core 7.3 uses it): answers Probes for
dn:NetworkVideoTransmitter / tds:Device with a ProbeMatch per device (the node, or each camera
with `onvif_server.per_camera`), says Hello when it starts and Bye when it stops.

It listens on UDP `discovery_port` on every address and joins the multicast group 239.255.255.250
(where the machine has a multicast route; else it answers directed Probes only, logged). Answers go
to the Probe's sender. XAddrs carry the address this machine reaches the sender from (the kernel's
route to it), or `server.host` when the HTTP server is bound to one address.

A Probe is small and a per-camera answer is one datagram per camera: at most `MAX_ANSWERS_PER_S`
Probes are answered per second, so the responder cannot be used to amplify a flood towards a forged
sender; retransmitted Probes (the same MessageID) are answered once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from lxml import etree

from core.clock import Clock
from onvif_server.soap import SOAP_ENV, TDS, SoapFault, parse_xml

log = logging.getLogger(__name__)

MULTICAST_GROUP = "239.255.255.250"
WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
DN = "http://www.onvif.org/ver10/network/wsdl"
DISCOVERY_TO = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
ACTION_PROBE = f"{WSD}/Probe"
TYPES = frozenset({(DN, "NetworkVideoTransmitter"), (TDS, "Device")})
NSMAP = {"s": SOAP_ENV, "a": WSA, "d": WSD, "dn": DN, "tds": TDS}
MAX_PROBE_BYTES = 16 * 1024
MAX_ANSWERS_PER_S = 20
RFC3986 = f"{WSD}/rfc3986"
STRCMP0 = f"{WSD}/strcmp0"


@dataclass(frozen=True)
class Announced:
    """One device we announce: its stable endpoint id, scopes, and the path of its device service."""

    endpoint: uuid.UUID
    scopes: tuple[str, ...]
    path: str


def scope_matches(wanted: str, ours: str, match_by: str) -> bool:
    """WS-Discovery 5.1: strcmp0 is equality; RFC 3986 (the default) compares path segments."""
    if match_by == STRCMP0:
        return wanted == ours
    wanted, ours = wanted.rstrip("/"), ours.rstrip("/")
    return ours.lower() == wanted.lower() or ours.lower().startswith(wanted.lower() + "/")


def probe_matches(probe: etree._Element, device: Announced) -> bool:
    """Whether a d:Probe element asks for a device like ours."""
    types_text = probe.findtext(f"{{{WSD}}}Types") or ""
    types_node = probe.find(f"{{{WSD}}}Types")
    for qname in types_text.split():
        prefix, _, local = qname.rpartition(":")
        namespace = types_node.nsmap.get(prefix or None) if types_node is not None else None
        if (namespace, local) not in TYPES:
            return False
    scopes_node = probe.find(f"{{{WSD}}}Scopes")
    if scopes_node is not None and (scopes_node.text or "").strip():
        match_by = scopes_node.get("MatchBy", RFC3986)
        if match_by not in (RFC3986, STRCMP0):
            return False
        return all(any(scope_matches(w, o, match_by) for o in device.scopes) for w in scopes_node.text.split())
    return True


def _message(action: str, body: etree._Element, relates_to: str | None, instance: int, number: int) -> bytes:
    root = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap=NSMAP)
    header = etree.SubElement(root, f"{{{SOAP_ENV}}}Header")
    etree.SubElement(header, f"{{{WSA}}}MessageID").text = f"urn:uuid:{uuid.uuid4()}"
    if relates_to is not None:
        etree.SubElement(header, f"{{{WSA}}}RelatesTo").text = relates_to
        etree.SubElement(header, f"{{{WSA}}}To").text = ANONYMOUS
    else:
        etree.SubElement(header, f"{{{WSA}}}To").text = DISCOVERY_TO
    etree.SubElement(header, f"{{{WSA}}}Action").text = f"{WSD}/{action}"
    etree.SubElement(header, f"{{{WSD}}}AppSequence", InstanceId=str(instance), MessageNumber=str(number))
    etree.SubElement(root, f"{{{SOAP_ENV}}}Body").append(body)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _endpoint(parent: etree._Element, device: Announced) -> None:
    epr = etree.SubElement(parent, f"{{{WSA}}}EndpointReference")
    etree.SubElement(epr, f"{{{WSA}}}Address").text = device.endpoint.urn


def _described(parent: etree._Element, device: Announced, xaddrs: str | None) -> None:
    _endpoint(parent, device)
    etree.SubElement(parent, f"{{{WSD}}}Types").text = "dn:NetworkVideoTransmitter tds:Device"
    etree.SubElement(parent, f"{{{WSD}}}Scopes").text = " ".join(device.scopes)
    if xaddrs is not None:
        etree.SubElement(parent, f"{{{WSD}}}XAddrs").text = xaddrs
    etree.SubElement(parent, f"{{{WSD}}}MetadataVersion").text = "1"


def local_address_towards(peer: str) -> str:
    """The address this machine sends from to reach `peer` (a routing lookup; nothing is sent)."""
    family = socket.AF_INET6 if ipaddress.ip_address(peer).version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((peer, 9))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


class DiscoveryResponder(asyncio.DatagramProtocol):
    """Answers WS-Discovery Probes for the devices `devices()` lists (asked at each Probe)."""

    def __init__(self, devices: Callable[[], list[Announced]], http_port: int, port: int, bind_host: str,
                 clock: Clock) -> None:
        self._devices = devices
        self._http_port = http_port
        self._port = port
        self._bind_host = bind_host
        self._clock = clock
        self._transport: asyncio.DatagramTransport | None = None
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._instance = int(clock.now().timestamp())
        self._number = 0
        self._window_start = 0.0
        self._answered = 0
        self.multicast = False

    def _host_for(self, peer: str) -> str:
        if self._bind_host not in ("0.0.0.0", "::", ""):
            return self._bind_host
        host = local_address_towards(peer)
        return f"[{host}]" if ":" in host else host

    def _xaddrs(self, host: str, device: Announced) -> str:
        return f"http://{host}:{self._http_port}{device.path}"

    def _next(self) -> int:
        self._number += 1
        return self._number

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int] | tuple[str, int, int, int]) -> None:
        try:
            root = parse_xml(data, MAX_PROBE_BYTES)
        except SoapFault as fault:
            log.debug("WS-Discovery datagram from %s ignored: %s", addr[0], fault.reason)
            return
        action = (root.findtext(f"{{{SOAP_ENV}}}Header/{{{WSA}}}Action") or "").strip()
        probe = root.find(f"{{{SOAP_ENV}}}Body/{{{WSD}}}Probe")
        if action != ACTION_PROBE or probe is None:
            return  # Hello, Bye, ProbeMatches of other devices, Resolve: nothing for us to answer
        message_id = (root.findtext(f"{{{SOAP_ENV}}}Header/{{{WSA}}}MessageID") or "").strip()
        if not message_id or message_id in self._seen:
            return
        self._seen[message_id] = None
        while len(self._seen) > 1024:
            self._seen.popitem(last=False)
        now = self._clock.monotonic()
        if now - self._window_start >= 1.0:
            self._window_start, self._answered = now, 0
        if self._answered >= MAX_ANSWERS_PER_S:
            log.warning("WS-Discovery: more than %d Probes a second; %s not answered", MAX_ANSWERS_PER_S, addr[0])
            return
        self._answered += 1
        host = self._host_for(addr[0])
        for device in self._devices():
            if not probe_matches(probe, device):
                continue
            body = etree.Element(f"{{{WSD}}}ProbeMatches")
            _described(etree.SubElement(body, f"{{{WSD}}}ProbeMatch"), device, self._xaddrs(host, device))
            self._send(_message("ProbeMatches", body, message_id, self._instance, self._next()), addr)

    def _send(self, data: bytes, addr: tuple[str, int] | tuple[str, int, int, int]) -> None:
        if self._transport is not None:
            self._transport.sendto(data, addr)

    def announce(self, hello: bool) -> None:
        """Hello (with XAddrs) or Bye to the multicast group, for every device; best effort."""
        if not self.multicast:
            return
        group = (MULTICAST_GROUP, self._port)
        host = self._host_for(MULTICAST_GROUP)
        for device in self._devices():
            body = etree.Element(f"{{{WSD}}}{'Hello' if hello else 'Bye'}")
            if hello:
                _described(body, device, self._xaddrs(host, device))
            else:
                _endpoint(body, device)
            self._send(_message("Hello" if hello else "Bye", body, None, self._instance, self._next()), group)

    def error_received(self, exc: Exception) -> None:
        log.debug("WS-Discovery socket error: %s", exc)


def open_socket(port: int) -> tuple[socket.socket, bool]:
    """A UDP socket on `port` (all addresses), in the multicast group where that works."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("", port))
    joined = True
    try:
        membership = struct.pack("4s4s", socket.inet_aton(MULTICAST_GROUP), socket.inet_aton("0.0.0.0"))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    except OSError as exc:
        joined = False
        log.warning("WS-Discovery: could not join %s (%s); answering directed Probes only", MULTICAST_GROUP, exc)
    sock.setblocking(False)
    return sock, joined


class DiscoveryService:
    """Owns the responder's socket: `run()` serves until cancelled, with Hello first and Bye last."""

    def __init__(self, devices: Callable[[], list[Announced]], http_port: int, port: int, bind_host: str,
                 clock: Clock) -> None:
        self._responder = DiscoveryResponder(devices, http_port, port, bind_host, clock)
        self._port = port

    async def run(self) -> None:
        """Answer Probes until cancelled."""
        loop = asyncio.get_running_loop()
        sock, joined = open_socket(self._port)
        transport, _ = await loop.create_datagram_endpoint(lambda: self._responder, sock=sock)
        self._responder.multicast = joined
        log.info("WS-Discovery responder on UDP %d%s", self._port, " (multicast)" if joined else "")
        try:
            self._responder.announce(hello=True)
            await asyncio.Event().wait()
        finally:
            with contextlib.suppress(OSError):
                self._responder.announce(hello=False)
            transport.close()
