"""WS-Discovery: find ONVIF video transmitters, then ask each for its identity and profiles.

The probe is a few lines of asyncio UDP rather than the `wsdiscovery` package: its
2.1.2 release sends a directed (unicast) probe on its IPv6 thread too, which fails on an
IPv4 address, listens for answers only on the multicast socket bound to UDP 3702 on every
interface (so answers to a unicast probe, sent back to the probe's source port, are
lost), and polls in a thread. Here one socket on an ephemeral port sends the Probe,
multicast to 239.255.255.250:3702 or directly to the addresses given (what routed
networks need, where multicast does not cross), and collects ProbeMatches until the
timeout, on the event loop.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
import ipaddress
import logging
import socket
import uuid
from collections.abc import Iterable
from urllib.parse import urlsplit

import lxml.etree

from core.destinations import literal_address, refused_address, refused_name

from onvif_adapters.client import OnvifClient
from onvif_adapters.errors import OnvifAuthError, OnvifError
from onvif_adapters.models import DeviceRecord, ProbeMatch

log = logging.getLogger(__name__)

WSD_GROUP = "239.255.255.250"
WSD_PORT = 3702
# SOAP-over-UDP (WS-Discovery 1.0, Appendix I) repeats a multicast message; two copies a
# moment apart survive one lost datagram without flooding the segment.
REPEAT = 2
REPEAT_GAP_S = 0.1
# Devices described at once: a site with hundreds of cameras must not open hundreds of
# connections in the same instant.
MAX_CONCURRENT_DESCRIBE = 16
# One device's description (clock, services, info, profiles, scopes: five requests) may
# take this many per-request timeouts in all.
DESCRIBE_BUDGET_CALLS = 3

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
}
PROBE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
    'xmlns:dn="http://www.onvif.org/ver10/network/wsdl">'
    "<s:Header>"
    '<a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>'
    "<a:MessageID>{message_id}</a:MessageID>"
    "<a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>"
    '<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>'
    "</s:Header>"
    "<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body>"
    "</s:Envelope>"
)
# Datagrams come from anyone on the segment: no entities, no network, no huge trees.
_PARSER = lxml.etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def parse_probe_matches(data: bytes, message_id: str) -> list[ProbeMatch]:
    """The ProbeMatches in one datagram that answer our probe (others, and garbage, are ignored)."""
    try:
        root = lxml.etree.fromstring(data, _PARSER)
    except lxml.etree.XMLSyntaxError:
        return []
    relates = root.findtext("s:Header/a:RelatesTo", namespaces=NS)
    if relates is not None and relates.strip() != message_id:
        return []
    out = []
    # Per the spec a ProbeMatch sits in a ProbeMatches element; some devices (ipycam 1.3.0
    # among them) put it straight into the Body.
    for match in root.iterfind("s:Body//d:ProbeMatch", NS):
        endpoint = (match.findtext("a:EndpointReference/a:Address", namespaces=NS) or "").strip()
        xaddrs = tuple((match.findtext("d:XAddrs", namespaces=NS) or "").split())
        if not endpoint and not xaddrs:
            continue
        out.append(
            ProbeMatch(
                endpoint=endpoint or xaddrs[0],
                xaddrs=xaddrs,
                types=tuple((match.findtext("d:Types", namespaces=NS) or "").split()),
                scopes=tuple((match.findtext("d:Scopes", namespaces=NS) or "").split()),
            )
        )
    return out


class _Collector(asyncio.DatagramProtocol):
    def __init__(self, message_id: str) -> None:
        self.message_id = message_id
        self.matches: dict[str, ProbeMatch] = {}

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        for match in parse_probe_matches(data, self.message_id):
            self.matches.setdefault(match.endpoint, match)

    def error_received(self, exc: Exception) -> None:
        log.debug("WS-Discovery: %s", exc)


def _socket(interface: str | None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    if interface:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
    sock.bind((interface or "0.0.0.0", 0))
    sock.setblocking(False)
    return sock


def parse_target(text: str) -> tuple[str, int]:
    """'192.0.2.10' or '192.0.2.10:3702' -> (host, port); ValueError otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = text, str(WSD_PORT)
    ipaddress.IPv4Address(host)  # the probe socket is IPv4
    number = int(port)
    if not 0 < number < 65536:
        raise ValueError(f"port {number} is out of range")
    return host, number


async def probe(
    timeout_s: float,
    targets: Iterable[tuple[str, int]] = (),
    interface: str | None = None,
) -> list[ProbeMatch]:
    """Probe for NetworkVideoTransmitters for `timeout_s`; multicast unless `targets` are given."""
    message_id = f"urn:uuid:{uuid.uuid4()}"
    payload = PROBE.format(message_id=message_id).encode()
    destinations = list(targets) or [(WSD_GROUP, WSD_PORT)]
    loop = asyncio.get_running_loop()
    transport, collector = await loop.create_datagram_endpoint(
        lambda: _Collector(message_id), sock=_socket(interface)
    )
    try:
        for copy in range(REPEAT):
            for destination in destinations:
                transport.sendto(payload, destination)
            if copy + 1 < REPEAT:
                await asyncio.sleep(REPEAT_GAP_S)
        await asyncio.sleep(max(0.0, timeout_s - REPEAT_GAP_S * (REPEAT - 1)))
    finally:
        transport.close()
    return sorted(collector.matches.values(), key=lambda m: m.xaddrs)


def device_address(match: ProbeMatch) -> tuple[str, int] | None:
    """Host and port of the device service from a match's XAddrs (the first http(s) one)."""
    for xaddr in match.xaddrs:
        try:
            parts = urlsplit(xaddr)
            port = parts.port
        except ValueError:
            continue
        if parts.scheme in ("http", "https") and parts.hostname:
            return parts.hostname, port or (443 if parts.scheme == "https" else 80)
    return None


async def describe(
    host: str,
    port: int,
    user: str | None,
    password: str | None,
    timeout_s: float,
    scopes: tuple[str, ...] = (),
) -> DeviceRecord:
    """What a device says about itself; failures are recorded in `error`, never raised."""
    address = f"{host}:{port}"
    try:
        # The client outside the budget: a budget that runs out never cuts its sessions' closing short.
        async with (
            OnvifClient(host, port, user, password, timeout_s=timeout_s) as client,
            asyncio.timeout(timeout_s * DESCRIBE_BUDGET_CALLS),
        ):
            await client.connect()
            info = await client.device_info()
            profiles = tuple(await client.profiles())
            try:
                scopes = tuple(await client.scopes()) or scopes
            except OnvifError:
                pass  # the probe's scopes will do
            return DeviceRecord(address, info, profiles, scopes, client.clock_offset_s)
    except OnvifAuthError as exc:
        hint = "" if user else " (give credentials to read device information)"
        return DeviceRecord(address, None, (), scopes, error=exc.detail + hint)
    except OnvifError as exc:
        return DeviceRecord(address, None, (), scopes, error=exc.detail)
    except TimeoutError:
        budget = timeout_s * DESCRIBE_BUDGET_CALLS
        return DeviceRecord(address, None, (), scopes, error=f"ONVIF {address}: no full answer within {budget:g} s")


async def discover(
    timeout_s: float,
    targets: Iterable[tuple[str, int]] = (),
    user: str | None = None,
    password: str | None = None,
    interface: str | None = None,
) -> list[DeviceRecord]:
    """Probe, then describe every device found, concurrently; `timeout_s` bounds each step.
    Credentials go only to the addresses named in `targets`: a device that answered the multicast
    probe (any host on the network can) is described without them."""
    targets = list(targets)
    named = {host.lower().strip("[]") for host, _port in targets}
    matches = await probe(timeout_s, targets, interface)
    records: list[DeviceRecord] = []
    tasks = []
    gate = asyncio.Semaphore(MAX_CONCURRENT_DESCRIBE)

    async def limited(host: str, port: int, scopes: tuple[str, ...]) -> DeviceRecord:
        trusted = host.lower().strip("[]") in named
        async with gate:
            record = await describe(host, port, user if trusted else None, password if trusted else None,
                                    timeout_s, scopes)
        if user and not trusted and record.error:
            return replace(record, error=f"{record.error}; credentials are sent only to addresses named in the "
                                         "probe, not to a device that answered the multicast")
        return record

    async with asyncio.TaskGroup() as tg:
        for match in matches:
            where = device_address(match)
            if where is None:
                records.append(
                    DeviceRecord(match.endpoint, None, (), match.scopes, error="no HTTP XAddr in the ProbeMatch")
                )
                continue
            address = literal_address(where[0])
            refused = refused_address(address) if address is not None else refused_name(where[0])
            if refused is not None:  # a responder naming a metadata service: nothing is sent there
                records.append(DeviceRecord(match.endpoint, None, (), match.scopes, error=f"XAddr refused: {refused}"))
                continue
            tasks.append(tg.create_task(limited(*where, match.scopes)))
    records.extend(t.result() for t in tasks)
    return sorted(records, key=lambda r: r.address)
