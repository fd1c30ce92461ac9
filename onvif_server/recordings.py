"""Profile G, searching the recordings: the search service (GetRecordingSummary, GetRecordingInformation,
FindRecordings, GetRecordingSearchResults, FindEvents, GetEventSearchResults, EndSearch) over the
sealed segments. Replay itself is the RTSP restream's (`/CAMERA_ID/playback`, handed out by the
replay service, replay.py).

One recording per recorded camera (token `rec_CAMERA_ID`, its main stream's segments) with one video
track; a recording is listed when the account may list the camera's recordings (`list_recordings`:
policy `access.playback` must name the integrator role's groups). FindEvents answers the recording's
history (recordinghistory.py): when its data starts and where its gaps are.

Searches answer at once and are kept (for Get...SearchResults) until EndSearch, their KeepAliveTime
after the last request that used them (at most `MAX_KEEP`), or at most `MAX_SEARCHES` newer ones.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lxml import etree

from core.clock import Clock
from core.utctime import parse_rfc3339
from onvif_server.access import OnvifAccess
from onvif_server.calls import Call, Caller
from onvif_server.events import duration_or_time
from onvif_server.recordinghistory import TOUCHING, event_results, history, spans_of
from onvif_server.soap import NSMAP, SoapFault, SoapRequest, el, invalid_arg, many, text_of
from policy.decision import Action
from recorder.index import SegmentIndex
from streams.camera import Camera

PREFIX = "rec_"
MAX_SEARCHES = 16
DEFAULT_KEEP = timedelta(seconds=60)
#: A client that asks to keep a search longer gets this: results are complete at once, so a long
#: keep-alive only holds memory.
MAX_KEEP = timedelta(minutes=10)
#: FindEvents without MaxMatches stops here (results are built at once and held until the search ends).
MAX_EVENT_MATCHES = 10_000


def _utc(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _when(text: str | None, what: str) -> datetime | None:
    """An xs:dateTime; one without a zone is taken as UTC (our clock is UTC, GetSystemDateAndTime says so)."""
    if not text:
        return None
    try:
        return parse_rfc3339(text)
    except ValueError:
        pass
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise invalid_arg("InvalidArgs", f"{what} is not an xs:dateTime") from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _max_matches(req: SoapRequest, default: int) -> int:
    try:
        return max(0, int(text_of(req.body, "tse:MaxMatches") or default))
    except ValueError as exc:
        raise invalid_arg("InvalidArgs", "MaxMatches must be a number") from exc


def _keep_alive(text: str | None, now: datetime) -> timedelta:
    """KeepAliveTime (an xs:duration), at most MAX_KEEP; DEFAULT_KEEP when not given."""
    if not text:
        return DEFAULT_KEEP
    try:
        return min(duration_or_time(text, now) - now, MAX_KEEP)
    except SoapFault as exc:
        raise invalid_arg("InvalidArgs", "KeepAliveTime must be a positive duration, e.g. PT10S") from exc


@dataclass
class Search:
    """One search's answers, kept for its owner until it ends or expires."""

    owner: str
    kind: str
    keep: timedelta
    until: datetime
    results: list[etree._Element]


class RecordingSearch:
    """Answers the search service."""

    def __init__(self, access: OnvifAccess, clock: Clock, cameras: dict[str, Camera], index: SegmentIndex) -> None:
        self._access = access
        self._clock = clock
        self._cameras = cameras
        self._index = index
        self._searches: OrderedDict[str, Search] = OrderedDict()

    async def listed(self, call: Call, caller: Caller, operation: str) -> list[tuple[Camera, datetime, datetime]]:
        """Visible cameras whose recordings the caller may list, with their recorded span."""
        found = []
        for camera in await self._access.visible(call, caller, operation):
            if not self._access.decision(call, caller, Action.LIST_RECORDINGS, camera).allowed:
                continue
            span = await self._index.span(camera.config.id)
            if span is not None:
                found.append((camera, *span))
        return found

    @staticmethod
    def recording(camera: Camera) -> bool:
        """Whether the camera is being recorded now."""
        return camera.config.record and camera.status.state.value in ("online", "degraded")

    def _information(self, camera: Camera, start: datetime, end: datetime) -> etree._Element:
        cid = camera.config.id
        return el("tt:RecordingInformation",
                  el("tt:RecordingToken", PREFIX + cid),
                  el("tt:Source", el("tt:SourceId", f"src_{cid}"), el("tt:Name", camera.config.name or cid),
                     el("tt:Location", ""), el("tt:Description", ", ".join(camera.config.groups)),
                     el("tt:Address", f"src_{cid}")),
                  el("tt:EarliestRecording", _utc(start)), el("tt:LatestRecording", _utc(end)),
                  el("tt:Content", f"{cid} main stream, sealed segments"),
                  el("tt:Track", el("tt:TrackToken", "video"), el("tt:TrackType", "Video"),
                     el("tt:Description", "video"), el("tt:DataFrom", _utc(start)), el("tt:DataTo", _utc(end))),
                  el("tt:RecordingStatus", "Recording" if self.recording(camera) else "Stopped"))

    async def get_recording_summary(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """The span and number of the recordings the caller may list."""
        found = await self.listed(call, caller, "GetRecordingSummary")
        now = self._clock.now()
        start = min((s for _, s, _ in found), default=now)
        end = max((e for _, _, e in found), default=now)
        return el("tse:GetRecordingSummaryResponse", el(
            "tse:Summary", el("tt:DataFrom", _utc(start)), el("tt:DataUntil", _utc(end)),
            el("tt:NumberRecordings", len(found))))

    async def get_recording_information(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """One recording by token."""
        token = text_of(req.body, "tse:RecordingToken") or ""
        for camera, start, end in await self.listed(call, caller, "GetRecordingInformation"):
            if PREFIX + camera.config.id == token:
                return el("tse:GetRecordingInformationResponse", self._information(camera, start, end))
        raise invalid_arg("InvalidToken", f"no recording {token[:64]!r}")

    async def find_recordings(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """Start a search (answered at once; no scope filters beyond what the caller may list)."""
        max_matches = _max_matches(req, 1000)
        found = await self.listed(call, caller, "FindRecordings")
        results = [self._information(c, s, e) for c, s, e in found[:max_matches]]
        return el("tse:FindRecordingsResponse", el("tse:SearchToken", self._keep(caller, req, "recordings", results)))

    async def find_events(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """Start a search of the recordings' history (tns1:RecordingHistory: where data starts and where
        its gaps start) between StartPoint and EndPoint (backwards when EndPoint is earlier), in the
        recordings the scope names (all listable ones when it names none)."""
        now = self._clock.now()
        start = _when(text_of(req.body, "tse:StartPoint"), "StartPoint")
        if start is None:
            raise invalid_arg("InvalidArgs", "StartPoint is required")
        end = _when(text_of(req.body, "tse:EndPoint"), "EndPoint") or max(now, start)
        max_matches = _max_matches(req, MAX_EVENT_MATCHES)
        start_state = (text_of(req.body, "tse:IncludeStartState") or "false").lower() in ("true", "1")
        named = {node.text.strip() for node in req.body.iterfind("tse:Scope/tt:IncludedRecordings", NSMAP)
                 if node.text}
        sources = {node.text.strip() for node in req.body.iterfind("tse:Scope/tt:IncludedSources/tt:Token", NSMAP)
                   if node.text}
        lo, hi = min(start, end), max(start, end)
        found: list[tuple[datetime, str, etree._Element]] = []
        for camera, _, last_end in await self.listed(call, caller, "FindEvents"):
            token = PREFIX + camera.config.id
            if (named and token not in named) or (sources and f"src_{camera.config.id}" not in sources):
                continue
            segments = await self._index.segments(camera.config.id, lo - TOUCHING, hi + TOUCHING)
            ongoing = self.recording(camera) and not any(
                g.end is None for g in await self._index.gaps(camera.config.id, last_end, None))
            changes = history(spans_of((s.start, s.end) for s in segments), lo, hi,
                              recorded_until=last_end if ongoing else None,
                              state_at=start if start_state else None)
            found.extend((change.at, token, result) for change in changes for result in event_results(token, change))
        # Stable sort: a change's recording event stays before its track event.
        found.sort(key=lambda f: (f[0], f[1]), reverse=end < start)
        results = [result for _, _, result in found[:max_matches]]
        return el("tse:FindEventsResponse", el("tse:SearchToken", self._keep(caller, req, "events", results)))

    def _keep(self, caller: Caller, req: SoapRequest, kind: str, results: list[etree._Element]) -> str:
        now = self._clock.now()
        self._expire(now)
        keep = _keep_alive(text_of(req.body, "tse:KeepAliveTime"), now)
        token = secrets.token_urlsafe(12)
        self._searches[token] = Search(caller.username, kind, keep, now + keep, results)
        while len(self._searches) > MAX_SEARCHES:
            self._searches.popitem(last=False)
        return token

    def _expire(self, now: datetime) -> None:
        for key in [k for k, s in self._searches.items() if s.until <= now]:
            del self._searches[key]

    def _search(self, caller: Caller, req: SoapRequest, kind: str | None) -> tuple[str, Search]:
        now = self._clock.now()
        self._expire(now)
        token = text_of(req.body, "tse:SearchToken") or ""
        found = self._searches.get(token)
        if found is None or found.owner != caller.username or (kind is not None and found.kind != kind):
            raise invalid_arg("InvalidToken", "no such search (ended or expired)")
        found.until = now + found.keep
        return token, found

    async def get_recording_search_results(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """The next results of a FindRecordings search (up to MaxResults)."""
        return el("tse:GetRecordingSearchResultsResponse", self._page(caller, req, "recordings"))

    async def get_event_search_results(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """The next results of a FindEvents search (up to MaxResults)."""
        return el("tse:GetEventSearchResultsResponse", self._page(caller, req, "events"))

    def _page(self, caller: Caller, req: SoapRequest, kind: str) -> etree._Element:
        """tse:ResultList: results not handed out yet, each once; Searching while some are left
        (the search itself is complete at once: MinResults and WaitTime never need a wait)."""
        _, search = self._search(caller, req, kind)
        try:
            limit = int(text_of(req.body, "tse:MaxResults") or len(search.results))
        except ValueError as exc:
            raise invalid_arg("InvalidArgs", "MaxResults must be a number") from exc
        page, search.results = search.results[:max(1, limit)], search.results[max(1, limit):]
        return el("tse:ResultList", el("tt:SearchState", "Searching" if search.results else "Completed"), *many(page))

    async def end_search(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """Forget a search."""
        token, _ = self._search(caller, req, None)
        del self._searches[token]
        return el("tse:EndSearchResponse", el("tse:Endpoint", _utc(self._clock.now())))
