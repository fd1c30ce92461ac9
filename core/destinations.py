"""Where the gateway may be told to connect: the check every address an administrator (or a device)
hands it goes through before anything is sent there (camera sources, ONVIF device addresses and
discovery targets).

What is allowed, and why:
- A camera on the LAN (RFC 1918, IPv6 unique local, any routable address, a host name): that is
  what a CCTV gateway is for.
- Loopback (127.0.0.0/8, ::1): a restreamer on the same host (MediaMTX, go2rtc) is a common source.
  Only rtsp://, rtsps:// and onvif:// are spoken there (core/schemes.py), by an administrator.
- Never: link-local (169.254.0.0/16, fe80::/10; the cloud metadata services live at
  169.254.169.254 and fd00:ec2::254), unspecified (0.0.0.0, ::), multicast, broadcast and reserved
  addresses, and the metadata services' host names. A camera never lives there; a request there
  reads instance credentials.
- With `onboarding.allowed_networks` set, nothing outside those networks either (host names are
  resolved and every address they resolve to must be inside).

Numeric forms that inet_aton reads (`2852039166`, `0xA9FEA9FE`, `0251.0376.0251.0376`) are no IP
address to Python's ipaddress; resolving them (as libav and aiohttp would) yields the real one,
which is then checked.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Host names of cloud metadata services (they resolve to link-local addresses inside the cloud).
METADATA_NAMES = frozenset({"metadata", "metadata.google.internal", "metadata.goog", "instance-data",
                            "instance-data.ec2.internal"})
AWS_IPV6_METADATA = ipaddress.IPv6Network("fd00:ec2::254/128")


def refused_address(address: IpAddress) -> str | None:
    """Why `address` is never a camera's (None when it may be one)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_link_local or address in AWS_IPV6_METADATA:
        return f"{address} is link-local (where cloud metadata services answer)"
    if address.is_unspecified:
        return f"{address} is the unspecified address"
    if address.is_multicast:
        return f"{address} is a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address == ipaddress.IPv4Address("255.255.255.255"):
        return f"{address} is the broadcast address"
    if address.is_reserved:
        return f"{address} is a reserved address"
    return None


def literal_address(host: str) -> IpAddress | None:
    """`host` as an IP address when it is written as one (IPv6 with or without brackets)."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def refused_name(host: str) -> str | None:
    """Why a host name is never a camera's (None when it may be one)."""
    name = host.lower().rstrip(".")
    if name in METADATA_NAMES:
        return f"{host} is a cloud metadata service"
    return None


def outside(address: IpAddress, networks: Iterable[IpNetwork]) -> bool:
    """Whether `address` lies outside every one of `networks` (an empty list holds everything)."""
    nets = list(networks)
    if not nets:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not any(address in net for net in nets)


def check_addresses(host: str, addresses: Iterable[IpAddress], networks: Iterable[IpNetwork]) -> None:
    """Raise ValueError saying why `host` (resolving to `addresses`) may not be connected to."""
    nets = list(networks)
    reason = refused_name(host)
    if reason is not None:
        raise ValueError(reason)
    for address in addresses:
        reason = refused_address(address)
        if reason is not None:
            raise ValueError(reason if str(address) == host.strip("[]") else f"{host} resolves to {reason}")
        if outside(address, nets):
            raise ValueError(f"{host} ({address}) is outside onboarding.allowed_networks")
