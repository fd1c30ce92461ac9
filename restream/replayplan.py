"""Planning an RTSP replay on the gateway's loop: the window the request asks for, whether the policy
allows it (restream/gate.py, `playback`), and the media that carries the recording there (its codecs
from the first sealed segment in the window). Pure of GStreamer."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from core.clock import Clock
from recorder.reader import SegmentOpened
from restream.gate import ReplayVerdict, RtspGate, Verdict, Viewer
from restream.pipeline import MediaPlan, plan_media
from restream.replayfeed import Recordings
from restream.replayrequest import BadReplayRequest, Window, window_of_query
from streams.packet import StreamInfo

log = logging.getLogger(__name__)

#: The recorded span of a camera's recording (earliest start, latest end), None when it has none.
SpanOf = Callable[[str], Awaitable[tuple[datetime, datetime] | None]]


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    """A replay the policy allowed: whose, of which camera and window, and the media carrying it."""

    viewer: str
    camera: str
    window: Window
    media: MediaPlan


class ReplayPlanner:
    """Answers an RTSP replay request with its plan, or the status refusing it."""

    def __init__(self, gate: RtspGate, recordings: Recordings, span_of: SpanOf, clock: Clock) -> None:
        self._gate = gate
        self._recordings = recordings
        self._span_of = span_of
        self._clock = clock

    async def plan(self, viewer: Viewer, camera: str, query: str | None, path: str, client: str) -> ReplayPlan | Verdict:
        """The plan for `?start=&end=` (defaults: the earliest recording, now); BAD_REQUEST for a query
        that cannot be read, NOT_FOUND for no recording in the window, or the policy's refusal."""
        span = await self._span_of(camera)
        try:
            window = window_of_query(query, span[0] if span is not None else None, self._clock.now())
        except BadReplayRequest as exc:
            log.info("rtsp replay of %s refused: %s", camera, exc)
            return Verdict.NOT_FOUND if span is None else Verdict.BAD_REQUEST
        allowed = await self.may_replay(viewer, camera, window.start, window.end, path, client)
        if allowed.verdict is not Verdict.OK:
            return allowed.verdict
        streams = await self._streams_at(camera, window)
        if streams is None:
            log.info("rtsp replay of %s: no recording between %s and %s", camera, window.start, window.end)
            return Verdict.NOT_FOUND
        media = plan_media(streams, allowed.audio)
        if media is None:
            log.info("rtsp replay of %s: recorded in %s, which RTSP passthrough cannot carry", camera,
                     [s.codec for s in streams])
            return Verdict.UNAVAILABLE
        return ReplayPlan(viewer.username, camera, window, media)

    def now(self) -> datetime:
        """The gateway's clock."""
        return self._clock.now()

    async def may_replay(self, viewer: Viewer, camera: str, start: datetime, end: datetime, path: str,
                         client: str) -> ReplayVerdict:
        """The policy on one window (a PLAY's `Range: clock=` asks for another)."""
        return await self._gate.may_replay(viewer, camera, start, end, path, client)

    async def _streams_at(self, camera: str, window: Window) -> tuple[StreamInfo, ...] | None:
        items = self._recordings.read(camera, window.start, window.end)
        try:
            async for item in items:
                if isinstance(item, SegmentOpened):
                    return item.streams
        finally:
            await items.aclose()  # type: ignore[attr-defined]
        return None
