"""The media service (ONVIF Media, ver10): profiles of the cameras an account may see, and the
RTSP restream's URLs for them.

GetStreamUri hands out rtsp://HOST:PORT/CAMERA_ID (or /CAMERA_ID/sub) of the restream
(`restream.rtsp`): HOST is `public_host`, else the host the SOAP request reached. The restream
itself checks the same account (RTSP Digest) when the client connects.

GetSnapshotUri answers SNAPSHOT_PATH/PROFILE_TOKEN on the HTTP port: the stream's latest keyframe as
JPEG, behind HTTP Digest (or Basic) with the same integrator account, as cameras serve theirs
(facade.py `snapshot`).
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from core.clock import Clock
from core.integrationconfig import RtspOut
from onvif_server.access import OnvifAccess
from onvif_server.calls import SNAPSHOT_PATH, Call, Caller
from onvif_server.profiles import (
    URI_TIMEOUT, MediaProfile, profile_xml, profiles_of, split_token, video_encoder_configuration,
    video_source_configuration, video_source_xml,
)
from onvif_server.soap import SoapFault, SoapRequest, el, invalid_arg, many, text_of
from policy.decision import Action
from streams.camera import Camera

#: Transports the restream offers (ONVIF StreamSetup Transport/Protocol): RTSP interleaved (TCP)
#: and RTP over UDP; not RTSP over HTTP, not multicast.
TRANSPORTS = ("RTSP", "TCP", "UDP")


def rtsp_host(rtsp: RtspOut, call: Call) -> str:
    """The host of the RTSP URLs we hand out: public_host, else the host the SOAP request reached."""
    host = rtsp.public_host or call.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    return host


def restream_off() -> SoapFault:
    """The fault for a URL of the RTSP restream (live or replay) when it does not run on this node."""
    return SoapFault("Receiver", ("ter:Action", "ter:NotSupported"),
                     "the RTSP restream is off on this node (restream.rtsp.enabled)")


class MediaService:
    """Answers the media service's operations."""

    def __init__(self, access: OnvifAccess, clock: Clock, cameras: dict[str, Camera], rtsp: RtspOut,
                 has_ptz: Callable[[Camera], bool]) -> None:
        self._has_ptz = has_ptz
        self._access = access
        self._clock = clock
        self._cameras = cameras
        self._rtsp = rtsp

    async def _profiles(self, call: Call, caller: Caller, operation: str) -> list[MediaProfile]:
        mono = self._clock.monotonic()
        return [p for camera in await self._access.visible(call, caller, operation)
                for p in profiles_of(camera, mono, self._has_ptz(camera))]

    async def _one(self, call: Call, caller: Caller, req: SoapRequest, operation: str,
                   action: Action = Action.VIEW_CAMERA) -> MediaProfile:
        """The profile named by ProfileToken, if it exists and `action` on its camera is allowed
        (logged); a camera the caller may not see is answered as a profile that does not exist."""
        token = text_of(req.body, "trt:ProfileToken") or ""
        camera_id, stream = split_token(token)
        camera = self._cameras.get(camera_id)
        if camera is None or (call.camera is not None and camera_id != call.camera):
            raise invalid_arg("NoProfile", f"no profile {token[:64]!r}")
        if not await self._access.authorize(call, caller, action, camera, operation, profile=token[:64]):
            raise invalid_arg("NoProfile", f"no profile {token[:64]!r}")
        feed = camera.feed(stream)
        if feed is None:
            raise invalid_arg("NoProfile", f"no profile {token[:64]!r}")
        return next(p for p in profiles_of(camera, self._clock.monotonic(), self._has_ptz(camera))
                    if p.stream is stream)

    async def get_profiles(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """One profile per visible camera stream."""
        profiles = await self._profiles(call, caller, "GetProfiles")
        return el("trt:GetProfilesResponse", *many(profile_xml(p) for p in profiles))

    async def get_profile(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """One profile by token."""
        profile = await self._one(call, caller, req, "GetProfile")
        return el("trt:GetProfileResponse", profile_xml(profile, "trt:Profile"))

    async def get_stream_uri(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """The restream's RTSP URL of the profile's stream (policy: live)."""
        protocol = text_of(req.body, "trt:StreamSetup/tt:Transport/tt:Protocol") or "RTSP"
        stream_type = text_of(req.body, "trt:StreamSetup/tt:Stream") or "RTP-Unicast"
        if protocol not in TRANSPORTS or stream_type != "RTP-Unicast":
            raise invalid_arg("InvalidStreamSetup",
                              f"{stream_type} over {protocol} is not offered; RTP-Unicast over RTSP, TCP or UDP is")
        if not self._rtsp.enabled:
            raise restream_off()
        profile = await self._one(call, caller, req, "GetStreamUri", Action.LIVE)
        uri = f"rtsp://{rtsp_host(self._rtsp, call)}:{self._rtsp.port}{profile.path}"
        return el("trt:GetStreamUriResponse", el(
            "trt:MediaUri", el("tt:Uri", uri), el("tt:InvalidAfterConnect", False),
            el("tt:InvalidAfterReboot", False), el("tt:Timeout", URI_TIMEOUT)))

    async def get_snapshot_uri(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """Our JPEG URL of the profile's stream (policy: view_camera)."""
        profile = await self._one(call, caller, req, "GetSnapshotUri")
        return el("trt:GetSnapshotUriResponse", el(
            "trt:MediaUri", el("tt:Uri", f"{call.base_url}{SNAPSHOT_PATH}/{profile.token}"),
            el("tt:InvalidAfterConnect", False), el("tt:InvalidAfterReboot", False), el("tt:Timeout", URI_TIMEOUT)))

    async def get_video_sources(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """One video source per visible camera (its main stream's size and rate)."""
        mono = self._clock.monotonic()
        cameras = await self._access.visible(call, caller, "GetVideoSources")
        return el("trt:GetVideoSourcesResponse", *many(
            video_source_xml(profiles_of(c, mono)[0]) for c in cameras))

    async def get_video_source_configurations(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """The video source configuration of every visible profile."""
        profiles = await self._profiles(call, caller, "GetVideoSourceConfigurations")
        return el("trt:GetVideoSourceConfigurationsResponse", *many(
            video_source_configuration(p, "trt:Configurations") for p in profiles))

    async def get_video_encoder_configurations(self, call: Call, caller: Caller,
                                               req: SoapRequest) -> etree._Element:
        """The encoder configuration of every visible H.264 profile whose size is known."""
        profiles = await self._profiles(call, caller, "GetVideoEncoderConfigurations")
        return el("trt:GetVideoEncoderConfigurationsResponse", *many(
            node for p in profiles if (node := video_encoder_configuration(p, "trt:Configurations")) is not None))

