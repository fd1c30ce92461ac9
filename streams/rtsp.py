"""The PyAV RTSP/RTSPS puller: whitelisted protocols, timeouts, errors without credentials."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator
from fractions import Fraction
from urllib.parse import urlsplit

import av
import av.error

from core.config import CameraConfig
from core.errors import SourceError, SourceRefused, SourceTimeout
from core.redact import redact_url
from core.schemes import RTSP_SCHEMES
from streams import schemes
from streams.accessunit import AccessUnits
from streams.packet import MediaPacket, StreamInfo

log = logging.getLogger(__name__)

# What the RTSP demuxer really opens (checked against FFmpeg 8): "tcp" for the control
# connection and interleaved media, "udp"/"rtp" for UDP transport, "tls" for rtsps://,
# "srtp" for SRTP-keyed SDPs. The rtsp demuxer itself is not a protocol (AVFMT_NOFILE).
# Leaving out http/https/file/concat/subfile/crypto stops a server-sent redirect or SDP
# from making libav read local files or reach other services.
PROTOCOL_WHITELIST = "tcp,udp,rtp,tls,srtp"
# Only the RTSP demuxer may be probed, so no other format parser sees camera bytes.
FORMAT_WHITELIST = "rtsp"


def check_rtsp_url(url: str) -> str:
    """Return the lower-case scheme of an rtsp/rtsps URL or raise SourceRefused."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise SourceRefused("camera URL cannot be parsed") from exc
    scheme = parts.scheme.lower()
    if scheme not in RTSP_SCHEMES:
        raise SourceRefused(f"scheme {scheme or '(none)'!r} is not allowed for an RTSP source")
    if not parts.hostname:
        raise SourceRefused(f"{redact_url(url)} has no host")
    return scheme


def stream_info(stream: av.stream.Stream) -> StreamInfo | None:
    """StreamInfo of a PyAV video or audio stream; None for data/subtitle streams."""
    if stream.type not in ("video", "audio"):
        return None
    ctx = stream.codec_context
    time_base = stream.time_base or Fraction(1, 90000)
    extradata = bytes(ctx.extradata) if ctx.extradata else None
    profile = ctx.profile or None
    if stream.type == "video":
        return StreamInfo(
            index=stream.index,
            kind="video",
            codec=ctx.name,
            time_base=Fraction(time_base),
            extradata=extradata,
            width=ctx.width,
            height=ctx.height,
            profile=profile,
        )
    return StreamInfo(
        index=stream.index,
        kind="audio",
        codec=ctx.name,
        time_base=Fraction(time_base),
        extradata=extradata,
        profile=profile,
        sample_rate=ctx.sample_rate,
        channels=ctx.channels,
    )


def to_media_packet(packet: av.Packet) -> MediaPacket:
    """Detach a demuxed packet from PyAV; pts/dts stay None when the camera gave none."""
    return MediaPacket(
        stream=packet.stream_index,
        data=bytes(packet),
        pts=packet.pts,
        dts=packet.dts,
        is_keyframe=packet.is_keyframe,
        received=time.monotonic(),
        wallclock=time.time(),
    )


class RtspSource:
    """Pulls an RTSP/RTSPS camera with PyAV, with open and read timeouts."""

    def __init__(self, config: CameraConfig) -> None:
        self.config = config
        self.display_url = redact_url(config.source)
        self._container: av.container.InputContainer | None = None
        self._packets: Iterator[av.Packet] | None = None
        self._units: AccessUnits | None = None
        self._ready: deque[MediaPacket] = deque()

    def open(self) -> tuple[StreamInfo, ...]:
        """Connect; the scheme is checked before libav sees the URL."""
        cfg = self.config
        check_rtsp_url(cfg.source)
        options = {
            "rtsp_transport": cfg.transport,
            "protocol_whitelist": PROTOCOL_WHITELIST,
            "format_whitelist": FORMAT_WHITELIST,
            # Probing for the frame rate waits for ~1 s of frames (open took 1.2 s against
            # the test camera, 0.4 s without); stats measure the rate anyway. Codec
            # parameters are still probed for cameras whose SDP lacks sprop-parameter-sets.
            "fpsprobesize": "0",
            # The read timeout is libav's own socket timeout (microseconds), not PyAV's:
            # PyAV's interrupt callback takes the GIL on every call, and libav calls it
            # several times per RTP packet. With 16 cameras that lock convoy cost 2.4x
            # ffmpeg's CPU on its own (bench/RESULTS.md); PyAV keeps only the open timeout.
            "timeout": str(int(cfg.read_timeout_s * 1_000_000)),
        }
        if urlsplit(cfg.source).scheme.lower() == "rtsps":
            # FFmpeg's TLS checks nothing unless told (tls_verify defaults to 0). Its RTSP demuxer
            # hands these to the TLS connection (checked against PyAV 18 / FFmpeg 8: a self-signed
            # camera is refused with 1, accepted with its certificate as ca_file).
            options["tls_verify"] = "1" if cfg.tls_verify else "0"
            if cfg.tls_ca_file is not None:
                options["ca_file"] = str(cfg.tls_ca_file)
        started = time.monotonic()
        try:
            container = av.open(
                cfg.source,
                mode="r",
                format="rtsp",
                options=options,
                timeout=(cfg.open_timeout_s, None),
            )
        except Exception as exc:
            timed_out = time.monotonic() - started >= cfg.open_timeout_s * 0.95
            raise self._error("open", exc, timed_out) from None
        streams = [s for s in container.streams if s.type in ("video", "audio")]
        infos = tuple(info for s in streams if (info := stream_info(s)) is not None)
        if not infos:
            container.close()
            raise SourceError(f"{self.display_url}: no audio or video stream")
        self._container = container
        self._packets = container.demux(*streams)
        # libav's RTSP demuxer runs its H.264/H.265 parser on every stream (rtpdec's
        # AVSTREAM_PARSE_FULL), which joins a frame's slices itself: frames come whole.
        self._units = AccessUnits(infos, whole_frames=True, camera=cfg.id)
        self._ready.clear()
        return infos

    def read(self) -> MediaPacket | None:
        """Next packet (a video packet is one whole, timed frame); None when the camera ended the stream."""
        if self._packets is None or self._units is None:
            raise SourceError(f"{self.display_url}: read before open")
        while not self._ready:
            started = time.monotonic()
            try:
                packet = next(self._packets)
            except (StopIteration, EOFError):
                self._ready.extend(self._units.flush())
                if not self._ready:
                    return None
                break
            except Exception as exc:
                timed_out = time.monotonic() - started >= self.config.read_timeout_s * 0.95
                raise self._error("read", exc, timed_out) from None
            # PyAV ends demuxing with an empty flush packet per stream; it carries nothing.
            if packet.size == 0:
                continue
            self._ready.extend(self._units.push(to_media_packet(packet)))
        return self._ready.popleft()

    def close(self) -> None:
        """Close the connection (sends RTSP TEARDOWN)."""
        container, self._container, self._packets = self._container, None, None
        self._units = None
        self._ready.clear()
        if container is not None:
            try:
                container.close()
            except Exception as exc:  # a dead connection may fail its TEARDOWN; nothing to do
                log.debug("closing %s: %s", self.display_url, type(exc).__name__)

    def _error(self, step: str, exc: BaseException, timed_out: bool) -> SourceError:
        """Our error for a PyAV/FFmpeg failure, with the URL's password removed."""
        # FFmpeg's exceptions carry the full URL (with credentials) as their filename, so
        # they are summarised here and not chained: a logged traceback would print them.
        if isinstance(exc, av.error.ExitError) or timed_out:
            limit = self.config.open_timeout_s if step == "open" else self.config.read_timeout_s
            return SourceTimeout(f"{self.display_url}: {step} timed out after {limit:g} s")
        if isinstance(exc, av.error.FFmpegError):
            detail = exc.strerror or type(exc).__name__
        elif isinstance(exc, OSError):
            detail = exc.strerror or type(exc).__name__
        else:
            detail = type(exc).__name__
        return SourceError(f"{self.display_url}: {step} failed: {self._scrub(detail)}")

    def _scrub(self, text: str) -> str:
        """Remove the raw URL and its password from text that came out of libav."""
        text = text.replace(self.config.source, self.display_url)
        password = urlsplit(self.config.source).password
        if password:
            text = text.replace(password, "***")
        return text


schemes.register(RtspSource, *RTSP_SCHEMES)
