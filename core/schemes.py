"""The camera URL schemes Pantau accepts, and what a URL of each must look like.

The one list every layer asks: config validation (here in core), the sources that open a
scheme (they register in streams/schemes.py, which accepts only schemes listed here) and
the ONVIF side (`is_onvif`). It is closed on purpose: anything else libav understands
(file:, concat:, subfile:, http:, pipe:, ...) could read local files or reach arbitrary
services, so a scheme is added here, in review, and never by an import somewhere else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import parse_qsl, quote, urlsplit

RTSP = "rtsp"
RTSPS = "rtsps"
ONVIF = "onvif"
DEMO = "demo"

#: What libav's RTSP demuxer opens; also the only thing an ONVIF device may hand back.
RTSP_SCHEMES = (RTSP, RTSPS)

# onvif://user:pass@host:port/?profile=main|sub|TOKEN: "main" is the device's first media
# profile, "sub" its second; anything else is a profile token (ONVIF ReferenceToken, at
# most 64 characters; the character set is ours, wide enough for every vendor seen).
ONVIF_PROFILE_TOKEN = re.compile(r"^[A-Za-z0-9_.:@-]{1,64}$")


@dataclass(frozen=True, slots=True)
class CameraScheme:
    """A camera URL scheme: its URL check and whether the URL names an ONVIF device."""

    name: str
    #: Raises ValueError with the reason when a URL of this scheme is malformed.
    check: Callable[[str], object]
    #: The URL names an ONVIF device, asked for the RTSP URL to open on every connect.
    onvif: bool = False


def scheme_of(url: str) -> str:
    """The lower-case scheme of a URL; "" when it has none or cannot be parsed."""
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        return ""


def check_host(url: str) -> None:
    """Raise ValueError when the URL names no host (rtsp://, rtsps://)."""
    if not urlsplit(url).hostname:
        raise ValueError("has no host")


def check_onvif_source(url: str) -> str:
    """Validate an onvif:// camera source; returns its profile selector ("main" by default)."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError("has no host")
    try:
        _ = parts.port  # raises ValueError on a port that is not a number in range
    except ValueError as exc:
        raise ValueError("has an invalid port") from exc
    if parts.path not in ("", "/"):
        raise ValueError("onvif:// takes no path (the device service is found by ONVIF); use ?profile=")
    if parts.fragment:
        raise ValueError("onvif:// takes no fragment")
    try:
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as exc:
        raise ValueError("has a malformed query; use ?profile=main|sub|TOKEN") from exc
    keys = [k for k, _ in query]
    unknown = sorted(set(keys) - {"profile"})
    if unknown:
        raise ValueError(f"unknown onvif:// parameter(s) {', '.join(unknown)}; only profile= is known")
    if len(keys) > 1:
        raise ValueError("profile= is given more than once")
    profile = query[0][1] if query else "main"
    if not ONVIF_PROFILE_TOKEN.fullmatch(profile):
        raise ValueError("profile must be main, sub or a profile token ([A-Za-z0-9_.:@-], 1-64 characters)")
    return profile


def onvif_url(host: str, port: int, user: str = "", password: str = "", profile: str = "main") -> str:
    """`onvif://user:pass@host:port/?profile=...` with every part quoted (IPv6 hosts in brackets)."""
    host = f"[{host}]" if ":" in host else host
    auth = f"{quote(user, safe='')}:{quote(password, safe='')}@" if user else ""
    return f"{ONVIF}://{auth}{host}:{port}/?profile={quote(profile, safe='')}"


def _checked_when_opened(url: str) -> None:
    """demo:// options are parsed by the demo source when it opens (a bad one leaves it offline)."""


SCHEMES: Mapping[str, CameraScheme] = MappingProxyType({
    s.name: s
    for s in (
        CameraScheme(RTSP, check_host),
        CameraScheme(RTSPS, check_host),
        CameraScheme(ONVIF, check_onvif_source, onvif=True),
        CameraScheme(DEMO, _checked_when_opened),
    )
})


def check_camera_url(url: str) -> CameraScheme:
    """The scheme of a camera URL that is allowed and well formed; raises ValueError saying why not."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError as exc:
        raise ValueError("is not a URL") from exc
    known = SCHEMES.get(scheme)
    if known is None:
        raise ValueError(f"scheme {scheme or '(none)'!r} is not allowed; use rtsp://, rtsps:// or onvif://")
    known.check(url)
    return known


def is_onvif(url: str) -> bool:
    """Whether a camera URL names an ONVIF device (its stream URL is resolved through ONVIF)."""
    known = SCHEMES.get(scheme_of(url))
    return known is not None and known.onvif
