"""Profile G, searching the recordings: the search service (GetRecordingSummary, GetRecordingInformation,
FindRecordings, GetRecordingSearchResults, EndSearch) over the sealed segments, and the replay service's
GetReplayUri, which says plainly that replay over RTSP is not built yet.

One recording per recorded camera (token `rec_CAMERA_ID`, its main stream's segments) with one video
track; a recording is listed when the account may list the camera's recordings (`list_recordings`:
policy `access.playback` must name the integrator role's groups). Searches answer at once and are kept
(for GetRecordingSearchResults) until EndSearch, their KeepAliveTime, or at most `MAX_SEARCHES` newer ones.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from datetime import datetime, timedelta

from lxml import etree

from core.clock import Clock
from onvif_server.access import OnvifAccess
from onvif_server.calls import Call, Caller
from onvif_server.soap import SoapFault, SoapRequest, el, invalid_arg, many, text_of
from policy.decision import Action
from recorder.index import SegmentIndex
from streams.camera import Camera

PREFIX = "rec_"
MAX_SEARCHES = 16
DEFAULT_KEEP = timedelta(seconds=60)
#: Until the RTSP replay exists (restream/ serves live only), GetReplayUri answers this.
REPLAY_MISSING = ("replay over RTSP is not built yet: Pantau replays recordings over WHEP "
                  "(/whep/playback/{camera}) and exports them (/api/v1/exports)")


def _utc(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class RecordingSearch:
    """Answers the search and replay services."""

    def __init__(self, access: OnvifAccess, clock: Clock, cameras: dict[str, Camera], index: SegmentIndex) -> None:
        self._access = access
        self._clock = clock
        self._cameras = cameras
        self._index = index
        self._searches: OrderedDict[str, tuple[str, datetime, list[etree._Element]]] = OrderedDict()

    async def _listed(self, call: Call, caller: Caller, operation: str) -> list[tuple[Camera, datetime, datetime]]:
        """Visible cameras whose recordings the caller may list, with their recorded span."""
        found = []
        for camera in await self._access.visible(call, caller, operation):
            if not self._access.decision(call, caller, Action.LIST_RECORDINGS, camera).allowed:
                continue
            span = await self._index.span(camera.config.id)
            if span is not None:
                found.append((camera, *span))
        return found

    def _information(self, camera: Camera, start: datetime, end: datetime) -> etree._Element:
        cid = camera.config.id
        recording = camera.config.record and camera.status.state.value in ("online", "degraded")
        return el("tt:RecordingInformation",
                  el("tt:RecordingToken", PREFIX + cid),
                  el("tt:Source", el("tt:SourceId", f"src_{cid}"), el("tt:Name", camera.config.name or cid),
                     el("tt:Location", ""), el("tt:Description", ", ".join(camera.config.groups)),
                     el("tt:Address", f"src_{cid}")),
                  el("tt:EarliestRecording", _utc(start)), el("tt:LatestRecording", _utc(end)),
                  el("tt:Content", f"{cid} main stream, sealed segments"),
                  el("tt:Track", el("tt:TrackToken", "video"), el("tt:TrackType", "Video"),
                     el("tt:Description", "video"), el("tt:DataFrom", _utc(start)), el("tt:DataTo", _utc(end))),
                  el("tt:RecordingStatus", "Recording" if recording else "Stopped"))

    async def get_recording_summary(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """The span and number of the recordings the caller may list."""
        found = await self._listed(call, caller, "GetRecordingSummary")
        now = self._clock.now()
        start = min((s for _, s, _ in found), default=now)
        end = max((e for _, _, e in found), default=now)
        return el("tse:GetRecordingSummaryResponse", el(
            "tse:Summary", el("tt:DataFrom", _utc(start)), el("tt:DataUntil", _utc(end)),
            el("tt:NumberRecordings", len(found))))

    async def get_recording_information(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """One recording by token."""
        token = text_of(req.body, "tse:RecordingToken") or ""
        for camera, start, end in await self._listed(call, caller, "GetRecordingInformation"):
            if PREFIX + camera.config.id == token:
                return el("tse:GetRecordingInformationResponse", self._information(camera, start, end))
        raise invalid_arg("InvalidToken", f"no recording {token[:64]!r}")

    async def find_recordings(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """Start a search (answered at once; no scope filters beyond what the caller may list)."""
        try:
            max_matches = int(text_of(req.body, "tse:MaxMatches") or "1000")
        except ValueError as exc:
            raise invalid_arg("InvalidArgs", "MaxMatches must be a number") from exc
        found = await self._listed(call, caller, "FindRecordings")
        results = [self._information(c, s, e) for c, s, e in found[:max(0, max_matches)]]
        now = self._clock.now()
        self._expire(now)
        token = secrets.token_urlsafe(12)
        self._searches[token] = (caller.username, now + DEFAULT_KEEP, results)
        while len(self._searches) > MAX_SEARCHES:
            self._searches.popitem(last=False)
        return el("tse:FindRecordingsResponse", el("tse:SearchToken", token))

    def _expire(self, now: datetime) -> None:
        for key in [k for k, (_, until, _) in self._searches.items() if until <= now]:
            del self._searches[key]

    def _search(self, caller: Caller, req: SoapRequest) -> tuple[str, list[etree._Element]]:
        self._expire(self._clock.now())
        token = text_of(req.body, "tse:SearchToken") or ""
        found = self._searches.get(token)
        if found is None or found[0] != caller.username:
            raise invalid_arg("InvalidToken", "no such search (ended or expired)")
        return token, found[2]

    async def get_recording_search_results(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """Everything the search found (it is always complete)."""
        _, results = self._search(caller, req)
        return el("tse:GetRecordingSearchResultsResponse", el(
            "tse:ResultList", el("tt:SearchState", "Completed"), *many(results)))

    async def end_search(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """Forget a search."""
        token, _ = self._search(caller, req)
        del self._searches[token]
        return el("tse:EndSearchResponse", el("tse:Endpoint", _utc(self._clock.now())))

    async def get_replay_uri(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """Not built yet: a Receiver fault that says so."""
        raise SoapFault("Receiver", ("ter:ActionNotSupported",), REPLAY_MISSING)
