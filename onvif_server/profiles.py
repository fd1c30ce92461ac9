"""Media profiles: one per camera stream an account may see, and their ONVIF (ver10 media) XML.

Token `CAMERA_ID` is a camera's main stream, `CAMERA_ID__sub` its sub-stream (camera ids are
[a-z0-9-], so the double underscore never clashes). Codec, size and frame rate are what the
stream's hub saw on its current connection: a stream that has not connected yet, or one that is
not H.264 (Media1's encodings are JPEG, MPEG4 and H264; H.265 needs Media2, which we do not serve),
gets a profile without a VideoEncoderConfiguration.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from onvif_server.soap import el
from streams.camera import Camera
from streams.feed import Feed, StreamName

GENERIC = "http://www.onvif.org/ver10/tptz"
SPACES = {
    "continuous_pt": f"{GENERIC}/PanTiltSpaces/VelocityGenericSpace",
    "continuous_z": f"{GENERIC}/ZoomSpaces/VelocityGenericSpace",
    "absolute_pt": f"{GENERIC}/PanTiltSpaces/PositionGenericSpace",
    "absolute_z": f"{GENERIC}/ZoomSpaces/PositionGenericSpace",
    "relative_pt": f"{GENERIC}/PanTiltSpaces/TranslationGenericSpace",
    "relative_z": f"{GENERIC}/ZoomSpaces/TranslationGenericSpace",
}
SUB_SUFFIX = "__sub"
#: How long a stream URI stays valid (ONVIF MediaUri.Timeout): ours do not expire.
URI_TIMEOUT = "PT0S"


@dataclass(frozen=True)
class MediaProfile:
    """One stream of one camera as an ONVIF media profile."""

    token: str
    camera_id: str
    stream: StreamName
    name: str
    codec: str | None
    width: int
    height: int
    fps: float
    #: The camera's PTZ is passed through (onvif_server/ptz.py).
    ptz: bool = False

    @property
    def source_token(self) -> str:
        """The video source (the camera): shared by its main and sub profile."""
        return f"src_{self.camera_id}"

    @property
    def path(self) -> str:
        """The restream path: /CAMERA_ID or /CAMERA_ID/sub."""
        return f"/{self.camera_id}" if self.stream is StreamName.MAIN else f"/{self.camera_id}/sub"


def profile_of(camera: Camera, feed: Feed, now_monotonic: float, ptz: bool = False) -> MediaProfile:
    """The profile of one of `camera`'s streams, as its hub knows it now."""
    video = feed.video
    main = feed.name is StreamName.MAIN
    name = camera.config.name or camera.config.id
    return MediaProfile(
        token=camera.config.id if main else camera.config.id + SUB_SUFFIX,
        camera_id=camera.config.id,
        stream=feed.name,
        name=name if main else f"{name} (sub)",
        codec=video.codec if video is not None else None,
        width=video.width if video is not None else 0,
        height=video.height if video is not None else 0,
        fps=feed.stats.snapshot(now_monotonic).fps,
        ptz=ptz,
    )


def profiles_of(camera: Camera, now_monotonic: float, ptz: bool = False) -> list[MediaProfile]:
    """A camera's profiles: its main stream, then its sub-stream if it has one."""
    return [profile_of(camera, feed, now_monotonic, ptz) for feed in camera.feeds]


def split_token(token: str) -> tuple[str, StreamName]:
    """`CAMERA_ID` / `CAMERA_ID__sub` -> (camera id, stream)."""
    if token.endswith(SUB_SUFFIX):
        return token[: -len(SUB_SUFFIX)], StreamName.SUB
    return token, StreamName.MAIN


def video_source_configuration(p: MediaProfile, tag: str = "tt:VideoSourceConfiguration") -> etree._Element:
    """The profile's video source configuration (the camera's whole picture), as `tag`."""
    return el(tag,
              el("tt:Name", p.name), el("tt:UseCount", 1), el("tt:SourceToken", p.source_token),
              el("tt:Bounds", x="0", y="0", width=str(p.width), height=str(p.height)),
              token=f"vsc_{p.token}")


def video_encoder_configuration(p: MediaProfile, tag: str = "tt:VideoEncoderConfiguration") -> etree._Element | None:
    """The video encoder configuration (as `tag`) of an H.264 stream whose size is known, else None."""
    if p.codec != "h264" or not p.width:
        return None
    fps = max(1, round(p.fps)) if p.fps else 25
    return el(tag,
              el("tt:Name", p.name), el("tt:UseCount", 1), el("tt:Encoding", "H264"),
              el("tt:Resolution", el("tt:Width", p.width), el("tt:Height", p.height)),
              el("tt:Quality", 5),
              el("tt:RateControl", el("tt:FrameRateLimit", fps), el("tt:EncodingInterval", 1),
                 el("tt:BitrateLimit", 0)),
              # Multicast and SessionTimeout are required by the schema; we stream unicast only.
              el("tt:Multicast", el("tt:Address", el("tt:Type", "IPv4"), el("tt:IPv4Address", "0.0.0.0")),
                 el("tt:Port", 0), el("tt:TTL", 0), el("tt:AutoStart", False)),
              el("tt:SessionTimeout", "PT60S"),
              token=f"vec_{p.token}")


def ptz_configuration(camera_id: str, tag: str = "tt:PTZConfiguration") -> etree._Element:
    """A PTZ camera's configuration (in its profiles and GetConfigurations)."""
    return el(tag, el("tt:Name", f"PTZ {camera_id}"), el("tt:UseCount", 1), el("tt:NodeToken", f"node_{camera_id}"),
              el("tt:DefaultContinuousPanTiltVelocitySpace", SPACES["continuous_pt"]),
              el("tt:DefaultContinuousZoomVelocitySpace", SPACES["continuous_z"]),
              el("tt:DefaultPTZTimeout", "PT5S"), token=f"ptz_{camera_id}")


def profile_xml(p: MediaProfile, tag: str = "trt:Profiles") -> etree._Element:
    """trt:Profiles (or trt:Profile) for one profile."""
    ptz = ptz_configuration(p.camera_id) if p.ptz else None
    return el(tag, el("tt:Name", p.name), video_source_configuration(p), video_encoder_configuration(p), ptz,
              token=p.token, fixed="true")


def video_source_xml(p: MediaProfile) -> etree._Element:
    """trt:VideoSources for a camera (its main stream's figures)."""
    return el("trt:VideoSources", el("tt:Framerate", round(p.fps, 2) if p.fps else 0),
              el("tt:Resolution", el("tt:Width", p.width), el("tt:Height", p.height)),
              token=p.source_token)
