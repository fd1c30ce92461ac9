"""The device's identity: its stable id (WS-Discovery endpoint, serial number) and its scopes."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path
from urllib.parse import quote

from core.integrationconfig import OnvifServerConfig

MANUFACTURER = "Pantau"


def device_uuid(data_dir: Path, camera: str | None = None) -> uuid.UUID:
    """A UUID that stays the same across restarts of this node (its host name and data directory)
    and differs per camera device: WS-Discovery's EndpointReference, which a VMS keys devices by."""
    node = f"pantau:{socket.gethostname()}:{data_dir.resolve()}"
    return uuid.uuid5(uuid.NAMESPACE_URL, node if camera is None else f"{node}:camera:{camera}")


def device_name(cfg: OnvifServerConfig, camera_name: str | None = None) -> str:
    """The node's name, or `NAME camera-name` for a per-camera device."""
    return cfg.name if camera_name is None else f"{cfg.name} {camera_name}"


def scopes(name: str, profile_g: bool = False) -> list[str]:
    """Our fixed ONVIF scopes (ONVIF Core 7.3.2.2): Profile S, Profile G when recordings can be
    searched and replayed (`profile_g`), a video encoder, the name and hardware."""
    return [
        "onvif://www.onvif.org/type/video_encoder",
        "onvif://www.onvif.org/type/NetworkVideoTransmitter",
        "onvif://www.onvif.org/Profile/Streaming",
        *(["onvif://www.onvif.org/Profile/G"] if profile_g else []),
        f"onvif://www.onvif.org/name/{quote(name, safe='')}",
        f"onvif://www.onvif.org/hardware/{MANUFACTURER}",
    ]
