"""What one SOAP call carries besides its XML: where it came from, which URL it reached, who sent it."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ServiceName(enum.StrEnum):
    """The ONVIF services we answer, each at /onvif/NAME_service."""

    DEVICE = "device"
    MEDIA = "media"
    PTZ = "ptz"
    EVENTS = "events"
    SEARCH = "search"
    REPLAY = "replay"


#: The path of each service on the HTTP port (ONVIF Core 5.1.1 fixes only the device service's).
SERVICE_PATHS = {ServiceName.DEVICE: "/onvif/device_service", ServiceName.MEDIA: "/onvif/media_service",
                 ServiceName.PTZ: "/onvif/ptz_service", ServiceName.EVENTS: "/onvif/events_service",
                 ServiceName.SEARCH: "/onvif/search_service", ServiceName.REPLAY: "/onvif/replay_service"}
#: Where GetSnapshotUri points: SNAPSHOT_PATH/PROFILE_TOKEN (HTTP Digest or Basic, onvif_server/httpdigest.py).
SNAPSHOT_PATH = "/onvif/snapshot"
#: The query parameter that makes a service answer as one camera's device (`onvif_server.per_camera`).
CAMERA_PARAM = "camera"


@dataclass(frozen=True)
class Call:
    """One request to a service: its body, the peer, and the URL it reached (for the URLs we hand out)."""

    service: ServiceName
    body: bytes
    client: str
    #: scheme://host[:port] as the client reached us (the Host header): XAddrs point back there.
    base_url: str
    #: The host part alone: the RTSP URLs' host when restream.rtsp.public_host is not set.
    host: str
    #: The camera whose own device this is (per-camera devices), or None for the node.
    camera: str | None = None
    #: The PullPoint subscription addressed (events service: `?subscription=`), if any.
    subscription: str | None = None

    def xaddr(self, service: ServiceName) -> str:
        """The URL of `service` for this device."""
        query = f"?{CAMERA_PARAM}={self.camera}" if self.camera else ""
        return f"{self.base_url}{SERVICE_PATHS[service]}{query}"


@dataclass(frozen=True)
class Caller:
    """An authenticated integrator account (role from policy/identity/devicesecrets.py)."""

    username: str
    role: str
