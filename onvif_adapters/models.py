"""Plain data that leaves onvif_adapters: no zeep object crosses this line."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """GetDeviceInformation."""

    manufacturer: str
    model: str
    firmware: str
    serial: str
    hardware_id: str


@dataclass(frozen=True, slots=True)
class Profile:
    """One media profile (Media1 GetProfiles)."""

    token: str
    name: str
    encoding: str | None
    width: int | None
    height: int | None
    has_ptz: bool

    @property
    def resolution(self) -> str | None:
        """"WxH", or None when the profile has no video encoder."""
        return f"{self.width}x{self.height}" if self.width and self.height else None

    def as_json(self) -> dict[str, Any]:
        """The API shape."""
        return {
            "token": self.token,
            "name": self.name,
            "encoding": self.encoding,
            "resolution": self.resolution,
            "ptz": self.has_ptz,
        }


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """What Pantau learnt about a device on its last successful connection."""

    address: str
    info: DeviceInfo | None
    profiles: tuple[Profile, ...] = ()
    scopes: tuple[str, ...] = ()
    #: Camera clock minus ours, in seconds (positive: the camera is ahead).
    clock_offset_s: float | None = None
    #: The profile a camera source streams from.
    profile: str | None = None
    #: Why the device info is incomplete (e.g. no credentials given to discovery).
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The API shape (no credentials: none are held here)."""
        return {
            "address": self.address,
            **({k: v for k, v in asdict(self.info).items()} if self.info else {}),
            "profiles": [p.as_json() for p in self.profiles],
            "scopes": list(self.scopes),
            "clock_offset_s": None if self.clock_offset_s is None else round(self.clock_offset_s, 1),
            **({"profile": self.profile} if self.profile else {}),
            **({"error": self.error} if self.error else {}),
        }


@dataclass(frozen=True, slots=True)
class ProbeMatch:
    """A WS-Discovery ProbeMatch: a device that answered the probe."""

    endpoint: str
    xaddrs: tuple[str, ...]
    types: tuple[str, ...]
    scopes: tuple[str, ...] = field(default_factory=tuple)
