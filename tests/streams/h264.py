"""Test media: H.264 encoded with PyAV from numpy pictures, and RTSP packets from the test camera."""

from __future__ import annotations

import dataclasses
import io
import threading
import time
from collections.abc import Callable, Iterable

import av
import numpy as np

from streams.packet import MediaPacket, StreamInfo


def stream_info(stream: av.video.stream.VideoStream, index: int = 0) -> StreamInfo:
    """The hub's description of a PyAV video stream."""
    ctx = stream.codec_context
    return StreamInfo(
        index=index,
        kind="video",
        codec=ctx.name,
        time_base=stream.time_base,
        extradata=bytes(ctx.extradata) if ctx.extradata else None,
        width=ctx.width,
        height=ctx.height,
        profile=ctx.profile,
    )


def media_packet(packet: av.Packet, index: int = 0) -> MediaPacket:
    """A PyAV packet detached into the hub's packet type."""
    return MediaPacket(
        stream=index,
        data=bytes(packet),
        pts=packet.pts,
        dts=packet.dts,
        is_keyframe=packet.is_keyframe,
        received=time.monotonic(),
        wallclock=time.time(),
    )


def encode(
    pictures: Iterable[np.ndarray], container: str = "mp4", gop: int = 5, bframes: int = 0
) -> tuple[StreamInfo, list[MediaPacket]]:
    """Encode BGR pictures with libx264; "mp4" gives avcC extradata, "h264" in-band SPS/PPS."""
    pictures = list(pictures)
    height, width = pictures[0].shape[:2]
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        # A fixed GOP: no scene-cut keyframes, so tests know which pictures are keyframes.
        stream.options = {
            "bf": str(bframes),
            "preset": "veryfast",
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0",
        }
        for i, picture in enumerate(pictures):
            frame = av.VideoFrame.from_ndarray(picture, format="bgr24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    buf.seek(0)
    with av.open(buf, "r", format=container) as src:
        stream = src.streams.video[0]
        info = stream_info(stream)
        if container == "h264":
            info = dataclasses.replace(info, extradata=None)  # rely on in-band SPS/PPS
        packets = [media_packet(p) for p in src.demux(stream) if p.size]
    return info, packets


class RtspFeeder:
    """Reads a test-camera mount with PyAV in a thread and hands what it gets to the loop.

    `switch(url)` reconnects to another mount, which the receiver sees as a new StreamInfo.
    """

    def __init__(
        self,
        url: str,
        on_streams: Callable[[tuple[StreamInfo, ...]], None],
        on_packet: Callable[[MediaPacket], None],
        call_soon: Callable[..., object],
    ) -> None:
        self._url = url
        self._on_streams = on_streams
        self._on_packet = on_packet
        self._call_soon = call_soon
        self._stop = threading.Event()
        self._switched = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="rtsp-feeder", daemon=True)

    def start(self) -> RtspFeeder:
        self._thread.start()
        return self

    def switch(self, url: str) -> None:
        """Reconnect to `url` (the camera's picture switches, e.g. a cover or a new view)."""
        self._url = url
        self._switched.set()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._switched.clear()
                self._read(self._url)
        except BaseException as exc:  # reported by the test through .error
            self.error = exc

    def _read(self, url: str) -> None:
        with av.open(url, options={"rtsp_transport": "tcp"}, timeout=(5, 5)) as src:
            stream = src.streams.video[0]
            self._call_soon(self._on_streams, (stream_info(stream),))
            for packet in src.demux(stream):
                if self._stop.is_set() or self._switched.is_set():
                    return
                if packet.size:
                    self._call_soon(self._on_packet, media_packet(packet))
