"""The device service (ONVIF Core, ver10 device): who we are, our clock, our services and scopes."""

from __future__ import annotations

import socket
from pathlib import Path

from lxml import etree

from core.clock import Clock
from core.integrationconfig import OnvifServerConfig
from core.version import gateway_version
from onvif_server.calls import Call, ServiceName
from onvif_server.events import MAX_SUBSCRIPTIONS
from onvif_server.identity import MANUFACTURER, device_name, device_uuid, scopes
from onvif_server.replay import SESSION_TIMEOUT_S
from onvif_server.soap import TDS, TEV, TPTZ, TRP, TRT, TSE, SoapRequest, el, many
from streams.camera import Camera

#: The ONVIF version our services answer as (GetServices' Version): Core/Media 2.6-era messages.
VERSION = (2, 60)


class DeviceService:
    """Answers the device service's operations for the node or for one camera's device."""

    def __init__(self, cfg: OnvifServerConfig, data_dir: Path, clock: Clock, cameras: dict[str, Camera],
                 ptz: bool, recordings: bool, rtsp: bool) -> None:
        self._ptz = ptz
        self._recordings = recordings
        # Replay is the RTSP restream's: without it the replay service is listed (its GetReplayUri says
        # why there is no URL) but Profile G, which promises replay, is not claimed.
        self._rtsp = rtsp
        self._cfg = cfg
        self._data_dir = data_dir
        self._clock = clock
        self._cameras = cameras

    def _name(self, call: Call) -> str:
        camera = self._cameras.get(call.camera) if call.camera else None
        return device_name(self._cfg, (camera.config.name or camera.config.id) if camera else None)

    async def get_system_date_and_time(self, call: Call, req: SoapRequest) -> etree._Element:
        """UTC only (no time zone rules of our own: the server's clock is UTC inside)."""
        now = self._clock.now()
        utc = el("tt:UTCDateTime",
                 el("tt:Time", el("tt:Hour", now.hour), el("tt:Minute", now.minute), el("tt:Second", now.second)),
                 el("tt:Date", el("tt:Year", now.year), el("tt:Month", now.month), el("tt:Day", now.day)))
        return el("tds:GetSystemDateAndTimeResponse", el(
            "tds:SystemDateAndTime", el("tt:DateTimeType", "NTP"), el("tt:DaylightSavings", False),
            el("tt:TimeZone", el("tt:TZ", "UTC0")), utc))

    async def get_device_information(self, call: Call, req: SoapRequest) -> etree._Element:
        """Manufacturer, model, firmware (our version), serial (the device's stable id)."""
        model = "Pantau camera" if call.camera else "Pantau gateway"
        serial = device_uuid(self._data_dir, call.camera).hex[:16]
        return el("tds:GetDeviceInformationResponse",
                  el("tds:Manufacturer", MANUFACTURER), el("tds:Model", model),
                  el("tds:FirmwareVersion", gateway_version()), el("tds:SerialNumber", serial),
                  el("tds:HardwareId", self._name(call)))

    async def get_services(self, call: Call, req: SoapRequest) -> etree._Element:
        """The device, media, events, (with passthrough) PTZ, and (with recordings) search and replay
        services (no capabilities inline: they are optional)."""
        def service(namespace: str, which: ServiceName) -> etree._Element:
            return el("tds:Service", el("tds:Namespace", namespace), el("tds:XAddr", call.xaddr(which)),
                      el("tds:Version", el("tt:Major", VERSION[0]), el("tt:Minor", VERSION[1])))

        return el("tds:GetServicesResponse", service(TDS, ServiceName.DEVICE), service(TRT, ServiceName.MEDIA),
                  service(TEV, ServiceName.EVENTS), service(TPTZ, ServiceName.PTZ) if self._ptz else None,
                  service(TSE, ServiceName.SEARCH) if self._recordings else None,
                  service(TRP, ServiceName.REPLAY) if self._recordings else None)

    async def get_capabilities(self, call: Call, req: SoapRequest) -> etree._Element:
        """Device, Events, Media (RTP over RTSP/TCP and plain RTP unicast: the restream's transports), PTZ,
        and the search and replay services in the Extension, as GetServices lists them."""
        device = el("tt:Device", el("tt:XAddr", call.xaddr(ServiceName.DEVICE)))
        media = el("tt:Media", el("tt:XAddr", call.xaddr(ServiceName.MEDIA)), el(
            "tt:StreamingCapabilities", el("tt:RTPMulticast", False), el("tt:RTP_TCP", False),
            el("tt:RTP_RTSP_TCP", True)))
        events = el("tt:Events", el("tt:XAddr", call.xaddr(ServiceName.EVENTS)),
                    el("tt:WSSubscriptionPolicySupport", False), el("tt:WSPullPointSupport", True),
                    el("tt:WSPausableSubscriptionManagerInterfaceSupport", False))
        ptz = el("tt:PTZ", el("tt:XAddr", call.xaddr(ServiceName.PTZ))) if self._ptz else None
        search = el("tt:Search", el("tt:XAddr", call.xaddr(ServiceName.SEARCH)),
                    el("tt:MetadataSearch", False)) if self._recordings else None
        replay = el("tt:Replay", el("tt:XAddr", call.xaddr(ServiceName.REPLAY))) if self._recordings else None
        extension = el("tt:Extension", search, replay) if self._recordings else None
        return el("tds:GetCapabilitiesResponse", el("tds:Capabilities", device, events, media, ptz, extension))

    async def get_scopes(self, call: Call, req: SoapRequest) -> etree._Element:
        """Our scopes, all fixed (SetScopes is not supported)."""
        return el("tds:GetScopesResponse", *many(
            el("tds:Scopes", el("tt:ScopeDef", "Fixed"), el("tt:ScopeItem", item))
            for item in scopes(self._name(call), self._recordings and self._rtsp)))

    async def media_capabilities(self, call: Call, req: SoapRequest) -> etree._Element:
        """trt:GetServiceCapabilities: snapshots, RTP over RTSP/TCP. Answered without credentials, so the
        profile bound is a fixed number, not our count of cameras."""
        profiles = 1000
        return el("trt:GetServiceCapabilitiesResponse", el(
            "trt:Capabilities", el("trt:ProfileCapabilities", MaximumNumberOfProfiles=str(profiles)),
            el("trt:StreamingCapabilities", RTPMulticast="false", RTP_TCP="false", RTP_RTSP_TCP="true"),
            SnapshotUri="true", Rotation="false", VideoSourceMode="false", OSD="false"))

    async def events_capabilities(self, call: Call, req: SoapRequest) -> etree._Element:
        """tev:GetServiceCapabilities: PullPoint only (no WS-BaseNotification push, no pausing)."""
        return el("tev:GetServiceCapabilitiesResponse", el(
            "tev:Capabilities", WSSubscriptionPolicySupport="false", WSPullPointSupport="true",
            WSPausableSubscriptionManagerInterfaceSupport="false", MaxNotificationProducers="0",
            MaxPullPoints=str(MAX_SUBSCRIPTIONS), PersistentNotificationStorage="false"))

    async def ptz_capabilities(self, call: Call, req: SoapRequest) -> etree._Element:
        """tptz:GetServiceCapabilities: nothing beyond the basic moves."""
        return el("tptz:GetServiceCapabilitiesResponse", el(
            "tptz:Capabilities", EFlip="false", Reverse="false", GetCompatibleConfigurations="false"))

    async def search_capabilities(self, call: Call, req: SoapRequest) -> etree._Element:
        """tse:GetServiceCapabilities: no metadata search, no general start events (only the history's)."""
        return el("tse:GetServiceCapabilitiesResponse", el(
            "tse:Capabilities", MetadataSearch="false", GeneralStartEvents="false"))

    async def replay_capabilities(self, call: Call, req: SoapRequest) -> etree._Element:
        """trp:GetServiceCapabilities: forward only, RTP over RTSP/TCP (when the restream runs), the
        restream's fixed session timeout."""
        return el("trp:GetServiceCapabilitiesResponse", el(
            "trp:Capabilities", ReversePlayback="false",
            SessionTimeoutRange=f"{SESSION_TIMEOUT_S} {SESSION_TIMEOUT_S}", RTP_RTSP_TCP=str(self._rtsp).lower()))

    async def get_hostname(self, call: Call, req: SoapRequest) -> etree._Element:
        """The server's host name (not from DHCP as far as ONVIF can tell)."""
        return el("tds:GetHostnameResponse",
                  el("tds:HostnameInformation", el("tt:FromDHCP", False), el("tt:Name", socket.gethostname())))
