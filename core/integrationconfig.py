"""The `restream:` and `onvif_server:` sections: the ways out for the city's other systems (an NVR,
a VMS, an analytics box): Pantau's cameras over RTSP, and an ONVIF device in front of them."""

from __future__ import annotations

from pydantic import Field

from core.configbase import Strict


class RtspOut(Strict):
    """RTSP restream: rtsp://HOST:PORT/CAMERA_ID (and /CAMERA_ID/sub), passthrough from the hub."""

    enabled: bool = Field(False, description="Serve every camera over RTSP (integrator accounts, Digest auth).")
    host: str = Field("0.0.0.0", description="Address the RTSP server listens on.")
    port: int = Field(8554, ge=1, le=65535, description="RTSP port (TCP; UDP transport ports are chosen per session).")
    public_host: str | None = Field(
        None, description="Host name or address in the RTSP URLs handed out (ONVIF GetStreamUri); "
        "default: the address the asking client reached.")
    udp: bool = Field(True, description="Offer RTP over UDP unicast beside RTP over the RTSP connection (TCP).")
    max_clients: int = Field(64, ge=1, le=10000, description="RTSP sessions served at once; more are refused (503).")
    relay_idle_s: float = Field(
        30.0, gt=0, le=3600,
        description="Several nodes or workers: a camera another one ingests is pulled here too while RTSP clients "
        "watch it (a relay), and let go this long after the last one left.")


class RestreamConfig(Strict):
    """Restreaming the cameras to other systems."""

    rtsp: RtspOut = Field(default_factory=RtspOut)


class OnvifServerConfig(Strict):
    """The ONVIF device facade (Profile S/G): /onvif/device_service on the HTTP port."""

    enabled: bool = Field(False, description="Answer ONVIF (SOAP on the HTTP port, WS-Discovery on UDP 3702).")
    discovery: bool = Field(True, description="Answer WS-Discovery Probes on UDP 3702 (multicast 239.255.255.250).")
    discovery_port: int = Field(3702, ge=1, le=65535, description="WS-Discovery port (3702 by the standard; tests move it).")
    per_camera: bool = Field(
        False, description="Announce one device per camera instead of one for the whole node.")
    name: str = Field("Pantau", min_length=1, max_length=64, description="Device name in GetDeviceInformation and scopes.")
    clock_skew_s: float = Field(
        300.0, gt=0, le=86400, description="How far a WS-UsernameToken's Created may be from the server's time.")
