"""How a live viewer gets a stream's video: untouched, transcoded to H.264, or a refusal that says why.

The refusals carry a reason code in their problem+json body (`reason`, with `codec` and, for the
cap, `limit`), so the wall tile can say why in the viewer's language instead of staying black.
"""

from __future__ import annotations

import enum
from collections.abc import Collection

from core.errors import Unavailable, Unprocessable
from streams.packet import StreamInfo
from webrtc.reencode import decodable

# What every viewer takes untouched (H.265 too where its offer lists it: the live route adds it).
PASSTHROUGH_CODECS = frozenset({"h264"})
# Names viewers know the codecs by; FFmpeg's own name otherwise.
CODEC_NAMES = {"hevc": "H.265", "h264": "H.264", "mjpeg": "MJPEG", "mpeg4": "MPEG-4"}


class LiveVideo(enum.Enum):
    PASSTHROUGH = "passthrough"
    TRANSCODE = "transcode"


class Refusal(enum.StrEnum):
    """Why a live stream's video cannot be played (the `reason` of the problem body)."""

    #: Nothing here can decode the camera's codec.
    CODEC_UNSUPPORTED = "codec_unsupported"
    #: The browser cannot play the codec and the camera's `transcode` is false.
    TRANSCODE_OFF = "transcode_off"
    #: The camera may be transcoded but `webrtc.max_transcodes` is 0.
    TRANSCODE_DISABLED = "transcode_disabled"
    #: `webrtc.max_transcodes` cameras are transcoded already (503, Retry-After).
    TRANSCODE_BUSY = "transcode_busy"
    #: Transcoding this camera failed a moment ago (503, Retry-After).
    TRANSCODE_FAILED = "transcode_failed"
    #: The stream reorders frames (B-frames), which WebRTC cannot play, and it is not transcoded
    #: (the camera's `transcode` is false, or it is a sub-stream, or the gateway transcodes nothing).
    REORDERED_FRAMES = "reordered_frames"


def codec_name(codec: str) -> str:
    """A codec as viewers know it ("H.265" for FFmpeg's "hevc")."""
    return CODEC_NAMES.get(codec, codec.upper())


class VideoRefused(Unprocessable):
    """422: this stream's video cannot reach a browser, and waiting will not change that."""

    kind = "video-refused"

    def __init__(self, reason: Refusal, codec: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.codec = codec

    def members(self) -> dict[str, str | int]:
        return {"reason": self.reason.value, "codec": codec_name(self.codec)}


class TranscodeUnavailable(Unavailable):
    """503: the camera would be transcoded, but not now (the cap is reached, or it just failed)."""

    kind = "transcode-unavailable"

    def __init__(self, reason: Refusal, codec: str, detail: str, retry_after_s: float, limit: int) -> None:
        super().__init__(detail, retry_after_s)
        self.reason = reason
        self.codec = codec
        self.limit = limit

    def members(self) -> dict[str, str | int]:
        return {"reason": self.reason.value, "codec": codec_name(self.codec), "limit": self.limit}


def live_video(
    camera_id: str, video: StreamInfo | None, transcode: bool, max_transcodes: int,
    playable: Collection[str] = PASSTHROUGH_CODECS, reorders: bool = False,
) -> LiveVideo:
    """Passthrough for a codec the viewer plays (`playable`) in the order it is decoded, or for a
    stream whose codec is not known yet (an offline camera: its video is checked when it returns);
    else a transcode when the camera allows it and the gateway transcodes at all; else VideoRefused
    with the reason.

    `reorders`: the stream has B-frames (StreamStats.reorders). WebRTC has no decode order (one RTP
    timestamp per frame, played as it comes), so Chromium decodes almost none of such a stream:
    it is transcoded like a codec the viewer cannot play, or refused with `reordered_frames`. Not
    known before the stream's first reordered frame (its second or third): a viewer that comes
    first gets the stream untouched."""
    if video is None or (video.codec in playable and not reorders):
        return LiveVideo.PASSTHROUGH
    name = codec_name(video.codec)
    if not decodable(video.codec):
        raise VideoRefused(Refusal.CODEC_UNSUPPORTED, video.codec,
                           f"camera {camera_id!r} sends {video.codec} ({name}), which browsers cannot play "
                           "and Pantau cannot decode to transcode")
    if video.codec in playable:  # playable but for its B-frames
        needs = f"camera {camera_id!r} sends {video.codec} ({name}) with B-frames (frames out of display " \
            "order), which WebRTC cannot play; turn B-frames off in the camera"
        if not transcode:
            raise VideoRefused(Refusal.REORDERED_FRAMES, video.codec,
                               f"{needs}, or transcoding on for it (cameras[].transcode: true; main streams only)")
        if max_transcodes == 0:
            raise VideoRefused(Refusal.REORDERED_FRAMES, video.codec,
                               f"{needs}: this gateway transcodes no camera (webrtc.max_transcodes: 0)")
        return LiveVideo.TRANSCODE
    needs = f"camera {camera_id!r} sends {video.codec} ({name}) and this viewer's offer does not list it; " \
        "live WebRTC needs H.264"
    if not transcode:
        raise VideoRefused(Refusal.TRANSCODE_OFF, video.codec,
                           f"{needs}, and transcoding is off for this camera (cameras[].transcode: true turns it on)")
    if max_transcodes == 0:
        raise VideoRefused(Refusal.TRANSCODE_DISABLED, video.codec,
                           f"{needs}, and this gateway transcodes no camera (webrtc.max_transcodes: 0)")
    return LiveVideo.TRANSCODE
