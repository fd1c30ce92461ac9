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
from streams.packet import MediaPacket, StreamInfo

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
    #: The first recorded sound packet in the window, when the media carries sound: GStreamer's
    #: server prepares a media only once every stream has had a buffer, so the feeder primes the
    #: sound stream with it (the picture is primed with its parameter sets alone).
    sound_primer: bytes | None = None


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
        found = await self._streams_at(camera, window)
        if found is None:
            log.info("rtsp replay of %s: no recording between %s and %s", camera, window.start, window.end)
            return Verdict.NOT_FOUND
        streams, primer = found
        media = plan_media(streams, allowed.audio)
        if media is None:
            log.info("rtsp replay of %s: recorded in %s, which RTSP passthrough cannot carry", camera,
                     [s.codec for s in streams])
            return Verdict.UNAVAILABLE
        if len(media.streams) > 1 and primer is None:
            media = plan_media(streams, False) or media  # no sound in the window's first segment: picture only
        return ReplayPlan(viewer.username, camera, window, media, primer if len(media.streams) > 1 else None)

    def now(self) -> datetime:
        """The gateway's clock."""
        return self._clock.now()

    async def may_replay(self, viewer: Viewer, camera: str, start: datetime, end: datetime, path: str,
                         client: str) -> ReplayVerdict:
        """The policy on one window (a PLAY's `Range: clock=` asks for another)."""
        return await self._gate.may_replay(viewer, camera, start, end, path, client)

    async def _streams_at(self, camera: str, window: Window) -> tuple[tuple[StreamInfo, ...], bytes | None] | None:
        """The streams of the first segment in the window, and its first sound packet (if any)."""
        items = self._recordings.read(camera, window.start, window.end)
        streams: tuple[StreamInfo, ...] | None = None
        try:
            async for item in items:
                if isinstance(item, SegmentOpened):
                    if streams is not None:
                        break  # the first segment had no sound
                    streams = item.streams
                    sound = {s.index for s in streams if s.kind == "audio"}
                    if not sound:
                        break
                elif isinstance(item, MediaPacket) and streams is not None and item.stream in sound:
                    return streams, item.data
        finally:
            await items.aclose()  # type: ignore[attr-defined]
        return (streams, None) if streams is not None else None
