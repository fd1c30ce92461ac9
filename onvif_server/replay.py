"""Profile G, replaying the recordings: the replay service (ONVIF Replay Control, ver10 replay) hands
out the RTSP restream's replay URL of a recording, `rtsp://HOST:PORT/CAMERA_ID/playback`.

The restream serves it (restream/): ONVIF replay PLAY requests (`Require: onvif-replay`, `Range:
clock=...`) and `?start=&end=` for ffmpeg-like clients, checking the same account (RTSP Digest) and
policy `playback` there. Here the rule is the search service's: the URL is handed out for a recording
the caller may list. HOST is `restream.rtsp.public_host`, else the host the SOAP request reached, as
the media service's GetStreamUri does.
"""

from __future__ import annotations

from lxml import etree

from core.integrationconfig import RtspOut
from onvif_server.access import OnvifAccess
from onvif_server.calls import Call, Caller
from onvif_server.media import TRANSPORTS, restream_off, rtsp_host
from onvif_server.recordings import PREFIX, RecordingSearch
from onvif_server.soap import SoapRequest, el, invalid_arg, text_of
from policy.decision import Action

#: The restream's RTSP session timeout (GStreamer's default, which restream/ keeps): a replay client
#: sends a keep-alive within it. ONVIF's SessionTimeoutRange is (min, max); ours is fixed.
SESSION_TIMEOUT_S = 60
PLAYBACK_PATH = "playback"


class ReplayService:
    """Answers the replay service's operations."""

    def __init__(self, access: OnvifAccess, search: RecordingSearch, rtsp: RtspOut) -> None:
        self._access = access
        self._search = search
        self._rtsp = rtsp

    async def get_replay_uri(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """The restream's replay URL of a recording the caller may list (logged as list_recordings)."""
        protocol = text_of(req.body, "trp:StreamSetup/tt:Transport/tt:Protocol") or "RTSP"
        stream_type = text_of(req.body, "trp:StreamSetup/tt:Stream") or "RTP-Unicast"
        if protocol not in TRANSPORTS or stream_type != "RTP-Unicast":
            raise invalid_arg("InvalidStreamSetup",
                              f"{stream_type} over {protocol} is not offered; RTP-Unicast over RTSP, TCP or UDP is")
        if not self._rtsp.enabled:
            raise restream_off()
        token = text_of(req.body, "trp:RecordingToken") or ""
        for camera, _, _ in await self._search.listed(call, caller, "GetReplayUri"):
            if PREFIX + camera.config.id == token:
                await self._access.authorize(call, caller, Action.LIST_RECORDINGS, camera, "GetReplayUri",
                                             recording=token[:64])
                uri = f"rtsp://{rtsp_host(self._rtsp, call)}:{self._rtsp.port}/{camera.config.id}/{PLAYBACK_PATH}"
                return el("trp:GetReplayUriResponse", el("trp:Uri", uri))
        raise invalid_arg("InvalidToken", f"no recording {token[:64]!r}")

    async def get_replay_configuration(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """The session timeout, fixed by the restream."""
        return el("trp:GetReplayConfigurationResponse",
                  el("trp:Configuration", el("tt:SessionTimeout", f"PT{SESSION_TIMEOUT_S}S")))

