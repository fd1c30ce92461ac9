"""ONVIF camera events: one subscription per camera, the recent-events buffer and its table, live listeners."""

from camera_events.service import EventQuery, EventService, onvif_clients, onvif_source
from camera_events.store import EventStore

__all__ = [
    "EventQuery",
    "EventService",
    "EventStore",
    "onvif_clients",
    "onvif_source",
]
