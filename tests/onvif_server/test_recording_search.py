"""Profile G through the facade: onvif-zeep-async's search service finds the sealed recordings of the
cameras the account may list; GetReplayUri says that RTSP replay is not built yet."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
import zeep.exceptions
from lxml import etree

import onvif_adapters  # noqa: F401  (imports onvif with the root logger kept)
from core.config import CameraConfig
from onvif import ONVIFCamera
from tests.fixtures_camera import CameraServer
from tests.fixtures_onvif import free_udp_port
from tests.gatewayutil import make_settings, running_gateway, until
from tests.onvif_server.schemas import schema_of, soap

USER, PASSWORD = "nvr", "nvr-password-1"
SEARCH = "http://www.onvif.org/ver10/search/wsdl"


@pytest.mark.timeout(90)
async def test_search_lists_listable_recordings_and_replay_says_it_is_not_built(
    tmp_path: Path, camera_server: Callable[..., CameraServer]
) -> None:
    server = camera_server({"main": "ball"})
    cameras = [
        CameraConfig(id="gate", source=server.url("main"), groups=["gates"]),
        # Seen live by the account, but not its recordings (no playback rule for its group).
        CameraConfig(id="yard", source=server.url("main"), groups=["yard"]),
    ]
    settings = make_settings(
        tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", cameras,
        recording={"segment_s": 2, "min_free_bytes": 0},
        access={"visibility": {"admin": ["*"], "integrator": ["gates", "yard"]},
                "playback": {"admin": {"groups": ["*"]}, "integrator": {"groups": ["gates"]}}},
        onvif_server={"enabled": True, "discovery": False, "discovery_port": free_udp_port()},
    )
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
            with pytest.raises(zeep.exceptions.Fault) as missing:
                await replay.GetReplayUri({"StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
                                           "RecordingToken": "rec_gate"})
            assert "not built yet" in str(missing.value.message)
        finally:
            await nvr.close()

        base = f"http://127.0.0.1:{client.gateway.port}/onvif/search_service"
        schema = schema_of("search.wsdl")
        for operation, inner in (("GetRecordingSummary", ""), ("FindRecordings", "<Scope/><KeepAliveTime>PT10S</KeepAliveTime>")):
            status, answer = await soap(client.http, base, operation, SEARCH, USER, PASSWORD, inner)
            assert status == 200 and schema.validate(etree.ElementTree(answer)), schema.error_log.last_error
        token_text = answer.findtext(f"{{{SEARCH}}}SearchToken")
        status, answer = await soap(client.http, base, "GetRecordingSearchResults", SEARCH, USER, PASSWORD,
                                    f"<SearchToken>{token_text}</SearchToken>")
        assert status == 200 and schema.validate(etree.ElementTree(answer)), schema.error_log.last_error
