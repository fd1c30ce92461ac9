"""Camera ingest: sources (one timed access unit per video frame), a camera's feeds (main stream and
optional sub-stream), the packet hub, per-stream stats and health."""

from streams.camera import Camera
from streams.feed import Feed, StreamName
from streams.hub import StreamHub, Subscription
from streams.packet import MediaPacket, StreamChange, StreamInfo
from streams.state import CameraState, CameraStatus, StatusListener

__all__ = [
    "Camera",
    "CameraState",
    "CameraStatus",
    "Feed",
    "MediaPacket",
    "StatusListener",
    "StreamChange",
    "StreamHub",
    "StreamInfo",
    "StreamName",
    "Subscription",
]
