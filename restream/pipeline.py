"""What a mount's GStreamer media is made of: per hub stream an appsrc, a parser where the payloader
wants one, and an RTP payloader, all passthrough (nothing is decoded). Pure: text only, no `gi`."""

from __future__ import annotations

from dataclasses import dataclass

from streams.packet import StreamInfo

# appsrc settings shared by every stream: live, timestamps set by the feeder (camera time), never
# blocking the feeder (it runs on the gateway's event loop), and dropping the oldest buffers
# (leaky-type=downstream, GStreamer >= 1.20) if the pipeline stops taking them (4 MB: ~5 s of 6 Mbit/s).
APPSRC = "is-live=true format=time do-timestamp=false block=false max-bytes=4194304 leaky-type=downstream"

# Video: the hub carries Annex B access units, one per frame, which the payloaders take as they are
# (no parser: h264parse re-cuts access units whose NAL order it does not expect). The feeder puts the
# parameter sets in front of every keyframe that lacks them, so the SDP gets sprop-parameter-sets and
# a client that joins the shared media mid-GOP decodes from the next keyframe. Not config-interval=-1:
# the payloader then repeats SPS/PPS before every IDR *slice*, and ffmpeg cuts a two-slice keyframe
# (the test camera's) into two frames with the same time.
VIDEO = {
    "h264": ("video/x-h264,stream-format=byte-stream,alignment=au", "rtph264pay pt=96"),
    "hevc": ("video/x-h265,stream-format=byte-stream,alignment=au", "rtph265pay pt=96"),
}
# Sound: AAC as the camera sent it (raw frames; the AudioSpecificConfig goes into the caps) and
# G.711 as it is. Any other codec is left out of the restream (the picture still goes).
AUDIO_PAYLOADERS = {
    "aac": "rtpmp4gpay pt=97",
    "pcm_alaw": "rtppcmapay pt=8",
    "pcm_mulaw": "rtppcmupay pt=0",
}


@dataclass(frozen=True, slots=True)
class MediaPlan:
    """The hub streams a media carries (video first, then sound if any) and its launch line."""

    streams: tuple[StreamInfo, ...]
    launch: str


def audio_caps(info: StreamInfo) -> str | None:
    """appsrc caps for a sound stream; None for a codec (or an AAC without its config) not restreamed."""
    rate, channels = info.sample_rate or 8000, info.channels or 1
    if info.codec == "aac":
        if not info.extradata:
            return None
        return (f"audio/mpeg,mpegversion=4,stream-format=raw,rate={rate},channels={channels},"
                f"codec_data=(buffer){info.extradata.hex()}")
    if info.codec == "pcm_alaw":
        return f"audio/x-alaw,rate={rate},channels={channels}"
    if info.codec == "pcm_mulaw":
        return f"audio/x-mulaw,rate={rate},channels={channels}"
    return None


def plan_media(streams: tuple[StreamInfo, ...], with_audio: bool = True) -> MediaPlan | None:
    """The media for a hub's current streams; None without a video stream in a codec restreamed
    untouched (H.264, H.265): the camera is offline, or sends something RTSP passthrough cannot carry here."""
    video = next((s for s in streams if s.kind == "video"), None)
    if video is None or video.codec not in VIDEO:
        return None
    caps, chain = VIDEO[video.codec]
    parts = [f'appsrc name=src0 {APPSRC} caps="{caps}" ! {chain} name=pay0']
    chosen = [video]
    sound = next((s for s in streams if s.kind == "audio"), None) if with_audio else None
    if sound is not None and (acaps := audio_caps(sound)) is not None:
        parts.append(f'appsrc name=src1 {APPSRC} caps="{acaps}" ! {AUDIO_PAYLOADERS[sound.codec]} name=pay1')
        chosen.append(sound)
    return MediaPlan(tuple(chosen), "( " + "  ".join(parts) + " )")
