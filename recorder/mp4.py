"""MP4 muxing shared by the segment writer and the exporter: which streams MP4 can hold, and
adding one to a PyAV container (worker threads only)."""

from __future__ import annotations

import io
import logging
import threading

import av

from streams.packet import StreamInfo

log = logging.getLogger(__name__)

# Forward-only fMP4: the moov (no samples) first, then moof+mdat per keyframe. Nothing
# is ever rewritten, so the hash can be taken while writing and a crash leaves a
# prefix that is playable up to its last whole fragment.
MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
# The segments add delay_moov: the moov waits for the first fragment (it is still written before
# it, forward only), so it can carry edit lists that keep each track's start. Without them the
# muxer starts every track at 0, so audio starting 100 ms after the segment's keyframe played
# 100 ms early (FFmpeg 8: tfdt of every track 0 in the first fragment).
SEGMENT_MOVFLAGS = MOVFLAGS + "+delay_moov"
# The edit lists count in the movie's timescale, 1/1000 s by default: a track's start rounded to
# the millisecond put consecutive segments' AAC frames a few samples apart when read back. The
# cameras' 90 kHz clock places every start exactly.
SEGMENT_OPTIONS = {"movflags": SEGMENT_MOVFLAGS, "movie_timescale": "90000"}

# Audio codecs ISO BMFF players understand; G.711 and friends are transcoded to AAC by the recorder
# (recorder/transcode.py) or, where FFmpeg cannot decode them, left out of MP4.
MP4_AUDIO = frozenset({"aac", "mp3", "opus", "flac", "alac", "ac3", "eac3"})

# Per thread: PyAV containers and their streams are not shared between threads.
_templates = threading.local()


def template(codec: str) -> av.stream.Stream | None:
    """A stream of `codec` to copy codec parameters from (never opened as an encoder); None
    when the MP4 muxer does not know the codec."""
    cache: dict[str, av.stream.Stream | None] | None = getattr(_templates, "cache", None)
    if cache is None:
        cache = _templates.cache = {}
        _templates.container = av.open(io.BytesIO(), "w", format="mp4")
    if codec not in cache:
        try:
            cache[codec] = _templates.container.add_stream(codec)
        except (ValueError, av.error.FFmpegError, TypeError) as exc:
            log.warning("codec %s cannot be recorded to MP4: %s", codec, exc)
            cache[codec] = None
    return cache[codec]


def recordable(info: StreamInfo) -> bool:
    """Whether a stream can go into the MP4 (video, and audio when MP4 has a mapping)."""
    if info.kind == "video":
        return template(info.codec) is not None
    return template(info.codec) is not None and info.codec in MP4_AUDIO


def add_stream(container: av.container.OutputContainer, info: StreamInfo,
               extradata: bytes | None) -> av.stream.Stream | None:
    """A track for `info` in `container` (no transcoding), with `extradata` as its codec
    parameters; None when MP4 does not know the codec."""
    source = template(info.codec)
    if source is None:
        return None
    stream = container.add_stream_from_template(source, opaque=True)
    stream.time_base = info.time_base
    ctx = stream.codec_context
    ctx.time_base = info.time_base
    if info.kind == "video":
        ctx.width, ctx.height = info.width, info.height
    else:
        ctx.sample_rate = info.sample_rate
    if extradata:
        ctx.extradata = extradata
    return stream
