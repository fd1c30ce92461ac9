"""Which packet source opens each camera URL scheme: every source registers the schemes it
opens when its module loads (as go2rtc's `streams.HandleFunc("rtsp", ...)`), and
`streams.source.make_source` asks here.

Only schemes core/schemes.py allows can be registered, and not the ONVIF ones: an onvif://
camera is opened through the RTSP URL its device gives (the resolver the composition root
injects into the Camera).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from core.config import CameraConfig
from core.schemes import SCHEMES, scheme_of

if TYPE_CHECKING:
    from streams.source import PacketSource

Opener = Callable[[CameraConfig], "PacketSource"]

_openers: dict[str, Opener] = {}


def register(opener: Opener, *schemes: str) -> None:
    """Let `opener` open camera URLs of `schemes`; raises ValueError for a scheme core does not
    allow, an ONVIF one, or one another source opens already."""
    for scheme in schemes:
        known = SCHEMES.get(scheme)
        if known is None or known.onvif:
            raise ValueError(f"scheme {scheme!r} is not one a packet source may open (see core/schemes.py)")
        if _openers.setdefault(scheme, opener) is not opener:
            raise ValueError(f"scheme {scheme!r} is opened by {_openers[scheme]!r} already")


def opener_for(url: str) -> Opener | None:
    """What opens a camera URL; None when no source opens its scheme."""
    return _openers.get(scheme_of(url))


def registered() -> frozenset[str]:
    """The schemes some source opens."""
    return frozenset(_openers)
