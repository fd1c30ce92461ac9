"""The ONVIF device facade: one SOAP call in, one answer out (parse, authenticate, dispatch, fault).

Operations that ONVIF Core's default access policy puts in class PRE_AUTH (GetSystemDateAndTime,
GetCapabilities, GetServices, GetHostname) answer without credentials, as cameras do: a client
reads our clock before it can sign a token on it. Everything else needs a WS-UsernameToken of an
enabled integrator account; a failure is a SOAP fault ter:NotAuthorized (HTTP 400, the SOAP 1.2
binding's status for a Sender fault, which zeep turns into a Fault), a failed sign-in in the access
log, and counts toward the sign-in throttle like a failed password on /api/v1/session.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from lxml import etree

from core.clock import Clock
from core.config import Settings
from onvif_server.access import OnvifAccess
from onvif_server.calls import CAMERA_PARAM, SERVICE_PATHS, Call, Caller, ServiceName
from onvif_server.device import DeviceService
from onvif_server.discovery import Announced, DiscoveryService
from onvif_server.identity import device_name, device_uuid, scopes
from onvif_server.media import MediaService
from onvif_server.events import OnvifNotice, PullPoints
from onvif_server.httpdigest import DigestAuth, HttpAuthRefused
from onvif_server.profiles import split_token
from onvif_server.ptz import CameraPtz, PtzService
from onvif_server.recordings import RecordingSearch
from onvif_server.replay import ReplayService
from onvif_server.soap import (
    TDS, TEV, TPTZ, TRP, TRT, TSE, WSNT, SoapFault, SoapRequest, action_not_supported, envelope, fault_envelope, not_authorized,
    parse_request,
)
from onvif_server.usernametoken import TokenChecker, TokenRefused
from policy.audit.entries import AccessRecorder
from policy.identity.devicesecrets import DEVICE_ROLE
from policy.identity.throttle import DeviceSignIns, DeviceThrottle
from policy.decision import Action
from recorder.index import SegmentIndex
from streams.snapshot import keyframe_jpeg
from streams.camera import Camera

log = logging.getLogger(__name__)

PublicHandler = Callable[[Call, SoapRequest], Awaitable[etree._Element]]
Handler = Callable[[Call, Caller, SoapRequest], Awaitable[etree._Element]]


@dataclass(frozen=True)
class SoapAnswer:
    """What the route sends back."""

    status: int
    body: bytes


@dataclass(frozen=True)
class SnapshotAnswer:
    """A JPEG (200), or a status with a reason; `challenge` for a 401's WWW-Authenticate."""

    status: int
    body: bytes = b""
    reason: str = ""
    challenge: str | None = None


class OnvifServer:
    """Answers SOAP calls to the device, media, events, PTZ, search and replay services."""

    def __init__(self, settings: Settings, clock: Clock, cameras: dict[str, Camera], access_log: AccessRecorder,
                 password_of: Callable[[str], Awaitable[str | None]], throttle: DeviceThrottle,
                 refusals: DeviceSignIns, ptz: CameraPtz | None = None, index: SegmentIndex | None = None) -> None:
        cfg = settings.onvif_server
        self.config = cfg
        self._access = OnvifAccess(settings.access, clock, cameras, access_log)
        self._tokens = TokenChecker(clock, cfg.clock_skew_s, password_of)
        self._digest = DigestAuth.create(clock, password_of)
        self._throttle = throttle
        self._refusals = refusals
        # Profile G: the search service needs the segment index; replay, the RTSP restream besides.
        self._profile_g = index is not None and settings.restream.rtsp.enabled
        device = DeviceService(cfg, settings.data_dir, clock, cameras, ptz is not None, index is not None,
                               settings.restream.rtsp.enabled)
        media = MediaService(self._access, clock, cameras, settings.restream.rtsp,
                             ptz.available if ptz is not None else lambda camera: False)
        self._cameras = cameras
        self._public: dict[tuple[str, str], PublicHandler] = {
            (TDS, "GetSystemDateAndTime"): device.get_system_date_and_time,
            (TDS, "GetCapabilities"): device.get_capabilities,
            (TDS, "GetServices"): device.get_services,
            (TDS, "GetHostname"): device.get_hostname,
            # GetServiceCapabilities is PRE_AUTH too (ONVIF Core 5.9.4.3's default access policy).
            (TRT, "GetServiceCapabilities"): device.media_capabilities,
            (TEV, "GetServiceCapabilities"): device.events_capabilities,
            (TPTZ, "GetServiceCapabilities"): device.ptz_capabilities,
        }
        device_ops: dict[str, PublicHandler] = {
            "GetDeviceInformation": device.get_device_information,
            "GetScopes": device.get_scopes,
        }
        self._private: dict[tuple[str, str], Handler] = {
            **{(TDS, name): _ignoring_caller(op) for name, op in device_ops.items()},
            (TRT, "GetProfiles"): media.get_profiles,
            (TRT, "GetProfile"): media.get_profile,
            (TRT, "GetStreamUri"): media.get_stream_uri,
            (TRT, "GetSnapshotUri"): media.get_snapshot_uri,
            (TRT, "GetVideoSources"): media.get_video_sources,
            (TRT, "GetVideoSourceConfigurations"): media.get_video_source_configurations,
            (TRT, "GetVideoEncoderConfigurations"): media.get_video_encoder_configurations,
        }
        self.pull_points = PullPoints(self._access, clock, cameras)
        self._private.update({
            (TEV, "GetEventProperties"): self.pull_points.get_event_properties,
            (TEV, "CreatePullPointSubscription"): self.pull_points.create,
            (TEV, "PullMessages"): self.pull_points.pull,
            (TEV, "SetSynchronizationPoint"): self.pull_points.set_synchronization_point,
            (WSNT, "Renew"): self.pull_points.renew,
            (WSNT, "Unsubscribe"): self.pull_points.unsubscribe,
        })
        if ptz is not None:
            moves = PtzService(self._access, clock, cameras, ptz, access_log)
            self._private.update({
                (TPTZ, "GetNodes"): moves.get_nodes,
                (TPTZ, "GetConfigurations"): moves.get_configurations,
                (TPTZ, "GetStatus"): moves.get_status,
                (TPTZ, "ContinuousMove"): moves.continuous_move,
                (TPTZ, "RelativeMove"): moves.relative_move,
                (TPTZ, "AbsoluteMove"): moves.absolute_move,
                (TPTZ, "Stop"): moves.stop,
                (TPTZ, "GetPresets"): moves.get_presets,
                (TPTZ, "GotoPreset"): moves.goto_preset,
                (TPTZ, "GotoHomePosition"): moves.goto_home_position,
            })
        if index is not None:
            search = RecordingSearch(self._access, clock, cameras, index)
            replay = ReplayService(self._access, search, settings.restream.rtsp)
            self._public.update({(TSE, "GetServiceCapabilities"): device.search_capabilities,
                                 (TRP, "GetServiceCapabilities"): device.replay_capabilities})
            self._private.update({
                (TSE, "GetRecordingSummary"): search.get_recording_summary,
                (TSE, "GetRecordingInformation"): search.get_recording_information,
                (TSE, "FindRecordings"): search.find_recordings,
                (TSE, "GetRecordingSearchResults"): search.get_recording_search_results,
                (TSE, "FindEvents"): search.find_events,
                (TSE, "GetEventSearchResults"): search.get_event_search_results,
                (TSE, "EndSearch"): search.end_search,
                (TRP, "GetReplayUri"): replay.get_replay_uri,
                (TRP, "GetReplayConfiguration"): replay.get_replay_configuration,
            })
        self._namespaces = {ServiceName.DEVICE: {TDS}, ServiceName.MEDIA: {TRT}, ServiceName.PTZ: {TPTZ},
                            ServiceName.EVENTS: {TEV, WSNT}, ServiceName.SEARCH: {TSE},
                            ServiceName.REPLAY: {TRP}}
        self._data_dir = settings.data_dir
        self._bind_host = settings.server.host
        self._clock = clock

    def announced(self) -> list[Announced]:
        """The devices WS-Discovery announces: the node, or one per camera (`per_camera`)."""
        device = SERVICE_PATHS[ServiceName.DEVICE]
        if not self.config.per_camera:
            return [Announced(device_uuid(self._data_dir), tuple(scopes(self.config.name, self._profile_g)), device)]
        return [
            Announced(device_uuid(self._data_dir, cid),
                      tuple(scopes(device_name(self.config, cam.config.name or cid), self._profile_g)),
                      f"{device}?{CAMERA_PARAM}={cid}")
            for cid, cam in sorted(self._cameras.items())
        ]

    async def snapshot(self, call: Call, token: str, authorization: str | None, method: str,
                       uri: str) -> SnapshotAnswer:
        """The JPEG behind a GetSnapshotUri URL, for an integrator account (HTTP Digest or Basic) that may
        see the camera (view_camera, logged as a view of footage)."""
        try:
            username = await self._digest.check(authorization, method, uri)
            if self._throttle.retry_after(username, call.client) > 0:
                raise HttpAuthRefused("too many failed sign-ins: locked for now", username)
        except HttpAuthRefused as refused:
            if refused.username is not None:
                self._throttle.failed(refused.username, call.client)
                await self._refusals.device_sign_in_refused("onvif-snapshot", refused.username, call.client,
                                                            f"ONVIF snapshot: {refused.reason}")
            return SnapshotAnswer(401, reason="credentials needed", challenge=self._digest.challenge(
                stale=refused.reason == "stale nonce"))
        self._throttle.succeeded(username, call.client)
        caller = Caller(username, DEVICE_ROLE)
        camera_id, stream = split_token(token)
        camera = self._cameras.get(camera_id)
        feed = camera.feed(stream) if camera is not None else None
        if camera is None or feed is None or not await self._access.authorize(
                call, caller, Action.VIEW_CAMERA, camera, "snapshot", profile=token[:64]):
            return SnapshotAnswer(404, reason="no such profile")
        jpeg = await keyframe_jpeg(feed.hub)
        if jpeg is None:
            return SnapshotAnswer(503, reason="the camera has no picture yet")
        return SnapshotAnswer(200, jpeg)

    def publish(self, notice: OnvifNotice) -> None:
        """Hand a camera's state change or alarm to the PullPoint subscriptions."""
        self.pull_points.publish(notice)

    async def run(self) -> None:
        """Expire subscriptions until cancelled; then release every waiting PullMessages."""
        await self.pull_points.run()

    def discovery(self, http_port: int) -> DiscoveryService:
        """The WS-Discovery responder for this node's devices (its owner runs it)."""
        return DiscoveryService(self.announced, http_port, self.config.discovery_port, self._bind_host, self._clock)

    async def handle(self, call: Call) -> SoapAnswer:
        """Answer one call; every refusal is a SOAP fault, logged."""
        try:
            return SoapAnswer(200, envelope(await self._answer(call)))
        except SoapFault as fault:
            return SoapAnswer(fault.status, fault_envelope(fault))

    async def _answer(self, call: Call) -> etree._Element:
        try:
            req = parse_request(call.body)
        except SoapFault as fault:
            log.warning("ONVIF request from %s refused: %s", call.client, fault.reason,
                        extra={"client": call.client, "service": call.service.value})
            await self._access.refused(call, f"SOAP request refused: {fault.reason}")
            raise
        if call.camera is not None and call.camera not in self._cameras:
            raise SoapFault("Sender", ("ter:InvalidArgVal",), "no such device")
        key = (req.namespace, req.operation)
        if req.namespace not in self._namespaces[call.service]:
            raise action_not_supported(req.operation[:64])
        public = self._public.get(key)
        if public is not None:
            return await public(call, req)
        handler = self._private.get(key)
        if handler is None:
            raise action_not_supported(req.operation[:64])
        caller = await self._authenticate(call, req)
        return await handler(call, caller, req)

    async def _authenticate(self, call: Call, req: SoapRequest) -> Caller:
        try:
            username = await self._tokens.check(req.security)
            if self._throttle.retry_after(username, call.client) > 0:
                raise TokenRefused("too many failed sign-ins: locked for now", username)
        except TokenRefused as refused:
            if refused.username is not None:
                self._throttle.failed(refused.username, call.client)
            # One entry (and text-log line) a minute per address, with the count: a device retries for ever.
            await self._refusals.device_sign_in_refused("onvif", refused.username, call.client,
                                                        f"ONVIF {req.operation[:64]}: {refused.reason}")
            raise not_authorized() from refused
        self._throttle.succeeded(username, call.client)
        return Caller(username, DEVICE_ROLE)


def _ignoring_caller(op: PublicHandler) -> Handler:
    async def handler(call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        return await op(call, req)
    return handler
