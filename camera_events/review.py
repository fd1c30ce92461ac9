"""The camera events' part of the replay desk's timeline: ONVIF events of a window, each alarm from
its "on" to its "off" as one item ("onvif.motion", "onvif.tamper", "onvif.video_loss", ...)."""

from __future__ import annotations

from collections.abc import Sequence

from camera_events.service import EventService
from core.reviewing import ReviewItem, ReviewWindow
from onvif_adapters.subscription import CameraEvent
from onvif_adapters.topics import EventKind

TITLES = {
    EventKind.MOTION: "Motion", EventKind.TAMPER: "Tamper alarm", EventKind.VIDEO_LOSS: "Video loss",
    EventKind.DIGITAL_INPUT: "Digital input", EventKind.OTHER: "Camera event",
}


def _detail(event: CameraEvent) -> str:
    pairs = [f"{k}={v}" for k, v in [*event.source.items(), *event.data.items()]]
    return " ".join([event.topic, *pairs])


def event_spans(events: Sequence[CameraEvent]) -> list[ReviewItem]:
    """Items from events sorted by time: an "on" opens an item, the next "off" of the same camera,
    kind, topic and source closes it. An "off" with no "on" seen (it began before the window, or is
    the state at subscription) is not listed; an "on" never closed is an item without an end."""
    items: list[ReviewItem] = []
    open_at: dict[tuple[str, str, str, tuple[tuple[str, str], ...]], int] = {}
    for event in events:
        key = (event.camera, event.kind.value, event.topic, tuple(sorted(event.source.items())))
        if event.active:
            if key in open_at:
                continue  # a camera that repeats "on" (some send it with each change of data)
            open_at[key] = len(items)
            items.append(ReviewItem(
                id=f"onvif:{event.camera}:{event.at.isoformat()}:{event.kind.value}", kind=f"onvif.{event.kind.value}",
                camera=event.camera, start=event.at, end=None, title=TITLES.get(event.kind, "Camera event"),
                detail=_detail(event)))
        elif key in open_at:
            index = open_at.pop(key)
            opened = items[index]
            items[index] = ReviewItem(opened.id, opened.kind, opened.camera, opened.start, event.at, opened.title,
                                      opened.detail)
    return items


class CameraEventReview:
    """Reads a window's events from the events service (its table, or memory when not stored)."""

    def __init__(self, events: EventService) -> None:
        self._events = events

    async def items(self, window: ReviewWindow) -> list[ReviewItem]:
        events = await self._events.between(window.cameras, window.start, window.end, window.cap)
        return event_spans(events)
