"""Profile G through the facade: onvif-zeep-async's search service finds the sealed recordings of the
cameras the account may list, FindEvents tells where a recording's data and its gaps start, and the
replay service hands out the RTSP restream's replay URL."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zeep.exceptions
from lxml import etree

import onvif_adapters  # noqa: F401  (imports onvif with the root logger kept)
from core.config import CameraConfig
from onvif import ONVIFCamera
from onvif_server.recordinghistory import spans_of
from tests.fixtures_camera import CameraServer, free_port
from tests.fixtures_onvif import free_udp_port
from tests.gatewayutil import make_settings, running_gateway, until
from tests.onvif_server.schemas import DEVICE, schema_of, soap

USER, PASSWORD = "nvr", "nvr-password-1"
SEARCH = "http://www.onvif.org/ver10/search/wsdl"
REPLAY = "http://www.onvif.org/ver10/replay/wsdl"
PROFILE_G = "onvif://www.onvif.org/Profile/G"
SETUP = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
NS = {"tt": "http://www.onvif.org/ver10/schema", "wsnt": "http://docs.oasis-open.org/wsn/b-2"}


def settings_for(tmp_path: Path, cameras: list[CameraConfig], rtsp: dict[str, Any]) -> Any:
    return make_settings(
        tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cameras,
        recording={"segment_s": 2, "min_free_bytes": 0},
        access={"visibility": {"admin": ["*"], "integrator": ["gates", "yard"]},
                "playback": {"admin": {"groups": ["*"]}, "integrator": {"groups": ["gates"]}}},
        restream={"rtsp": rtsp},
        onvif_server={"enabled": True, "discovery": False, "discovery_port": free_udp_port()},
    )


async def valid(http: Any, url: str, operation: str, namespace: str, wsdl: str, inner: str = "",
                user: str | None = USER) -> etree._Element:
    """Call `operation` and assert the answer is valid by `wsdl`'s schema."""
    status, answer = await soap(http, url, operation, namespace, user, PASSWORD if user else None, inner)
    schema = schema_of(wsdl)
    assert status == 200, etree.tostring(answer)
    assert schema.validate(etree.ElementTree(answer)), (operation, schema.error_log.last_error)
    return answer


@pytest.mark.timeout(90)
async def test_search_lists_listable_recordings_and_replay_hands_out_the_restream_url(
    tmp_path: Path, camera_server: Callable[..., CameraServer]
) -> None:
    server = camera_server({"main": "ball"})
    cameras = [
        CameraConfig(id="gate", source=server.url("main"), groups=["gates"]),
        # Seen live by the account, but not its recordings (no playback rule for its group).
        CameraConfig(id="yard", source=server.url("main"), groups=["yard"]),
    ]
    rtsp_port = free_port()
    settings = settings_for(tmp_path, cameras, {"enabled": True, "host": "127.0.0.1", "port": rtsp_port})
    async with running_gateway(settings) as client:
        services = client.gateway.services
        assert services is not None and client.gateway.port is not None
        await services.users.add(USER, "integrator", PASSWORD)

        async def sealed() -> bool:
            return all([await services.recorder.index.span(c) is not None for c in ("gate", "yard")])

        await until(sealed, within=40, what="a sealed segment of each camera")
        nvr = ONVIFCamera("127.0.0.1", client.gateway.port, USER, PASSWORD, adjust_time=True)
        try:
            await nvr.update_xaddrs()
            device = await nvr.create_devicemgmt_service()
            assert PROFILE_G in [s.ScopeItem for s in await device.GetScopes()]
            search = await nvr.create_search_service()
            summary = await search.GetRecordingSummary()
            assert summary.NumberRecordings == 1
            token = await search.FindRecordings({"Scope": {}, "KeepAliveTime": dt.timedelta(seconds=10)})
            results = await search.GetRecordingSearchResults({"SearchToken": token})
            assert results.SearchState == "Completed"
            [info] = results.RecordingInformation
            assert info.RecordingToken == "rec_gate" and info.RecordingStatus == "Recording"
            assert info.EarliestRecording < info.LatestRecording <= dt.datetime.now(dt.UTC)
            await search.EndSearch({"SearchToken": token})

            replay = await nvr.create_replay_service()
            uri = await replay.GetReplayUri({"StreamSetup": SETUP, "RecordingToken": "rec_gate"})
            assert uri == f"rtsp://127.0.0.1:{rtsp_port}/gate/playback"
            for hidden in ("rec_yard", "rec_nothing", "gate"):  # listable only live; unknown; not a token
                with pytest.raises(zeep.exceptions.Fault) as refused:
                    await replay.GetReplayUri({"StreamSetup": SETUP, "RecordingToken": hidden})
                assert "InvalidToken" in [q.localname for q in refused.value.subcodes]
            with pytest.raises(zeep.exceptions.Fault) as multicast:
                await replay.GetReplayUri({"StreamSetup": {**SETUP, "Stream": "RTP-Multicast"},
                                           "RecordingToken": "rec_gate"})
            assert "InvalidStreamSetup" in [q.localname for q in multicast.value.subcodes]
            capabilities = await replay.GetServiceCapabilities()
            assert capabilities.RTP_RTSP_TCP is True and capabilities.ReversePlayback is False
        finally:
            await nvr.close()

        base = f"http://127.0.0.1:{client.gateway.port}/onvif"
        answer = await valid(client.http, f"{base}/search_service", "FindRecordings", SEARCH, "search.wsdl",
                             "<Scope/><KeepAliveTime>PT10S</KeepAliveTime>")
        await valid(client.http, f"{base}/search_service", "GetRecordingSearchResults", SEARCH, "search.wsdl",
                    f"<SearchToken>{answer.findtext(f'{{{SEARCH}}}SearchToken')}</SearchToken>")
        await valid(client.http, f"{base}/search_service", "GetRecordingSummary", SEARCH, "search.wsdl")
        await valid(client.http, f"{base}/search_service", "GetServiceCapabilities", SEARCH, "search.wsdl", user=None)
        answer = await valid(client.http, f"{base}/replay_service", "GetReplayUri", REPLAY, "replay.wsdl",
                             "<StreamSetup><Stream xmlns='http://www.onvif.org/ver10/schema'>RTP-Unicast</Stream>"
                             "<Transport xmlns='http://www.onvif.org/ver10/schema'><Protocol>TCP</Protocol></Transport>"
                             "</StreamSetup><RecordingToken>rec_gate</RecordingToken>")
        assert answer.findtext(f"{{{REPLAY}}}Uri") == f"rtsp://127.0.0.1:{rtsp_port}/gate/playback"
        for operation in ("GetServiceCapabilities", "GetReplayConfiguration"):
            await valid(client.http, f"{base}/replay_service", operation, REPLAY, "replay.wsdl")
        answer = await valid(client.http, f"{base}/device_service", "GetServices", DEVICE, "devicemgmt.wsdl",
                             "<IncludeCapability>false</IncludeCapability>", user=None)
        listed = {s.findtext("{*}Namespace"): s.findtext("{*}XAddr") for s in answer}
        assert listed[SEARCH] == f"{base}/search_service" and listed[REPLAY] == f"{base}/replay_service"
        answer = await valid(client.http, f"{base}/device_service", "GetCapabilities", DEVICE, "devicemgmt.wsdl",
                             "<Category>All</Category>", user=None)
        assert answer.findtext(".//tt:Extension/tt:Replay/tt:XAddr", namespaces=NS) == f"{base}/replay_service"
        assert answer.findtext(".//tt:Extension/tt:Search/tt:XAddr", namespaces=NS) == f"{base}/search_service"


@pytest.mark.timeout(60)
async def test_without_the_rtsp_restream_replay_says_so_and_profile_g_is_not_claimed(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, [], {"enabled": False})
    async with running_gateway(settings) as client:
        assert client.gateway.services is not None and client.gateway.port is not None
        await client.gateway.services.users.add(USER, "integrator", PASSWORD)
        nvr = ONVIFCamera("127.0.0.1", client.gateway.port, USER, PASSWORD, adjust_time=True)
        try:
            await nvr.update_xaddrs()
            device = await nvr.create_devicemgmt_service()
            assert PROFILE_G not in [s.ScopeItem for s in await device.GetScopes()]
            replay = await nvr.create_replay_service()  # listed: its answer says why there is no URL
            with pytest.raises(zeep.exceptions.Fault) as off:
                await replay.GetReplayUri({"StreamSetup": SETUP, "RecordingToken": "rec_gate"})
            assert "restream.rtsp.enabled" in str(off.value.message)
            assert [q.localname for q in off.value.subcodes] == ["Action", "NotSupported"]
        finally:
            await nvr.close()
        base = f"http://127.0.0.1:{client.gateway.port}/onvif"
        answer = await valid(client.http, f"{base}/device_service", "GetServices", DEVICE, "devicemgmt.wsdl",
                             "<IncludeCapability>false</IncludeCapability>", user=None)
        assert {SEARCH, REPLAY} <= {s.findtext("{*}Namespace") for s in answer}
        answer = await valid(client.http, f"{base}/replay_service", "GetServiceCapabilities", REPLAY, "replay.wsdl")
        assert answer[0].get("RTP_RTSP_TCP") == "false"


def history_of(answer: etree._Element, topic: str) -> list[tuple[dt.datetime, bool]]:
    """(Time, value) of each tt:Result of `topic` in a GetEventSearchResultsResponse."""
    found = []
    for result in answer.iterfind(".//tt:Result", NS):
        if result.findtext("tt:Event/wsnt:Topic", namespaces=NS) != topic:
            continue
        item = result.find("tt:Event/wsnt:Message/tt:Message/tt:Data/tt:SimpleItem", NS)
        assert item is not None
        when = dt.datetime.fromisoformat(result.findtext("tt:Time", namespaces=NS) or "")
        found.append((when, item.get("Value") == "true"))
    return found


@pytest.mark.slow
@pytest.mark.timeout(150)
async def test_find_events_tells_where_a_recording_has_data_and_where_its_gap_is(
    tmp_path: Path, camera_server: Callable[..., CameraServer]
) -> None:
    server = camera_server({"main": "ball"})
    settings = settings_for(tmp_path, [CameraConfig(id="gate", source=server.url("main"), groups=["gates"])],
                            {"enabled": False})
    async with running_gateway(settings) as client:
        services = client.gateway.services
        assert services is not None and client.gateway.port is not None
        await services.users.add(USER, "integrator", PASSWORD)
        index = services.recorder.index

        async def segments_after(moment: dt.datetime, count: int) -> bool:
            return len([s for s in await index.segments("gate", moment, None) if s.start >= moment]) >= count

        began = dt.datetime.now(dt.UTC)
        await until(lambda: segments_after(began - dt.timedelta(seconds=5), 2), within=40, what="two segments")
        server.stop()  # the camera loses power: the recording has a gap until it is back
        killed = dt.datetime.now(dt.UTC)
        await asyncio.sleep(4)
        server.start()
        restarted = dt.datetime.now(dt.UTC)
        await until(lambda: segments_after(restarted, 1), within=60, what="a segment after the restart")

        spans = spans_of((s.start, s.end) for s in await index.segments("gate", None, None))
        assert len(spans) == 2, spans
        window = (began - dt.timedelta(seconds=30), dt.datetime.now(dt.UTC))
        nvr = ONVIFCamera("127.0.0.1", client.gateway.port, USER, PASSWORD, adjust_time=True)
        try:
            await nvr.update_xaddrs()
            search = await nvr.create_search_service()
            token = await search.FindEvents({
                "StartPoint": window[0], "EndPoint": window[1], "Scope": {"IncludedRecordings": ["rec_gate"]},
                "SearchFilter": {}, "IncludeStartState": False, "KeepAliveTime": dt.timedelta(seconds=10)})
            results = await search.GetEventSearchResults({"SearchToken": token})
            assert results.SearchState == "Completed"
            track = [r for r in results.Result if r.TrackToken == "video"]
            assert [r.RecordingToken for r in track] == ["rec_gate"] * 3
            times = [r.Time for r in track]
            assert times == sorted(times)
            await search.EndSearch({"SearchToken": token})
            with pytest.raises(zeep.exceptions.Fault):  # ended
                await search.GetEventSearchResults({"SearchToken": token})
            # Paged: each result handed out once, Searching while some are left.
            token = await search.FindEvents({
                "StartPoint": window[0], "EndPoint": window[1], "Scope": {}, "SearchFilter": {},
                "IncludeStartState": False, "KeepAliveTime": dt.timedelta(seconds=10)})
            first = await search.GetEventSearchResults({"SearchToken": token, "MaxResults": 4})
            rest = await search.GetEventSearchResults({"SearchToken": token, "MaxResults": 4})
            assert (first.SearchState, len(first.Result), rest.SearchState) == ("Searching", 4, "Completed")
            assert [r.Time for r in first.Result + rest.Result] == [r.Time for r in results.Result]
            with pytest.raises(zeep.exceptions.Fault) as zero:
                await search.FindEvents({"StartPoint": window[0], "Scope": {}, "SearchFilter": {},
                                         "IncludeStartState": False, "KeepAliveTime": dt.timedelta(0)})
            assert "KeepAliveTime" in str(zero.value.message)
        finally:
            await nvr.close()

        url = f"http://127.0.0.1:{client.gateway.port}/onvif/search_service"
        scope = "<Scope><IncludedRecordings xmlns='http://www.onvif.org/ver10/schema'>rec_gate</IncludedRecordings></Scope>"

        async def find(start: dt.datetime, end: dt.datetime, more: str = "") -> etree._Element:
            answer = await valid(client.http, url, "FindEvents", SEARCH, "search.wsdl",
                                 f"<StartPoint>{start.isoformat()}</StartPoint><EndPoint>{end.isoformat()}</EndPoint>"
                                 f"{scope}<SearchFilter/><IncludeStartState>{'true' if 'start' in more else 'false'}"
                                 f"</IncludeStartState>{'<MaxMatches>2</MaxMatches>' if 'two' in more else ''}"
                                 "<KeepAliveTime>PT10S</KeepAliveTime>")
            token_text = answer.findtext(f"{{{SEARCH}}}SearchToken")
            return await valid(client.http, url, "GetEventSearchResults", SEARCH, "search.wsdl",
                               f"<SearchToken>{token_text}</SearchToken>")

        changes = history_of(await find(*window), "tns1:RecordingHistory/Track/State")
        assert [present for _, present in changes] == [True, False, True]
        expected = [spans[0].start, spans[0].end, spans[1].start]
        assert all(abs((got - want).total_seconds()) < 1 for (got, _), want in zip(changes, expected, strict=True)), \
            (changes, spans)
        # And against the wall clock: the gap starts when the camera lost power, ends after it is back.
        assert killed - dt.timedelta(seconds=3) <= changes[1][0] <= killed + dt.timedelta(seconds=1)
        assert restarted <= changes[2][0] <= restarted + dt.timedelta(seconds=30)
        assert history_of(await find(*window), "tns1:RecordingHistory/Recording/State") == changes

        # Backwards from the end, at most two matches: the newest change's recording and track events.
        newest = await find(window[1], window[0], "two")
        assert history_of(newest, "tns1:RecordingHistory/Track/State") == [changes[2]]
        # From inside the gap, with the start state: data absent there, then present again.
        middle = changes[1][0] + (changes[2][0] - changes[1][0]) / 2
        assert [p for _, p in history_of(await find(middle, window[1], "start"),
                                         "tns1:RecordingHistory/Track/State")] == [False, True]
