"""Camera ingest: sources, the packet hub, per-camera stats and health."""

from streams.camera import Camera
from streams.hub import StreamHub, Subscription
from streams.packet import MediaPacket, StreamChange, StreamInfo
from streams.state import CameraState, CameraStatus, StatusListener

__all__ = [
    "Camera",
    "CameraState",
    "CameraStatus",
    "MediaPacket",
    "StatusListener",
    "StreamChange",
    "StreamHub",
    "StreamInfo",
    "Subscription",
]
