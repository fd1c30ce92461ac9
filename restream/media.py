"""A mount: the media factory of one camera stream, building a shared passthrough media from the
hub's current streams (restream/pipeline.py), and the appsrc as the feeder pushes into it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from restream.feeder import Sink
from restream.gst import Gst, GstApp, GstRtsp, GstRtspServer
from restream.pipeline import MediaPlan, plan_media
from streams.hub import StreamHub

log = logging.getLogger(__name__)


class AppSrcSink(Sink):
    """An appsrc taking the hub's packets as buffers (push never blocks: block=false, leaky)."""

    def __init__(self, appsrc: GstApp.AppSrc) -> None:
        self._src = appsrc

    def push(self, data: bytes, pts_ns: int | None, dts_ns: int | None, keyframe: bool) -> None:
        buf = Gst.Buffer.new_wrapped(data)
        if pts_ns is not None:
            buf.pts = pts_ns
        if dts_ns is not None:
            buf.dts = dts_ns
        if not keyframe:
            buf.set_flags(Gst.BufferFlags.DELTA_UNIT)
        self._src.push_buffer(buf)

    def end(self) -> None:
        """No more buffers: the stream ends (clients get RTCP BYE)."""
        self._src.end_of_stream()

    def running_time_ns(self) -> int | None:
        # Only once the appsrc is PLAYING are its clock and base time the pipeline's: during the
        # state change the clock can already be set with a base time of 0, and a running time read
        # then (the clock's uptime) stamped buffers hours ahead, which the server's synchronised
        # sinks held for ever (seen under load: a client that got nothing).
        _result, current, _pending = self._src.get_state(0)
        clock = self._src.get_clock()
        if current != Gst.State.PLAYING or clock is None:
            return None
        return max(0, int(clock.get_time()) - int(self._src.get_base_time()))


#: What a factory hands on when one of its medias is built: the factory, the media, what it carries
#: and its appsrcs (in the plan's stream order).
MediaReady = Callable[["CameraFactory", GstRtspServer.RTSPMedia, MediaPlan, list[AppSrcSink]], None]
#: Finds the hub a mount's media should read now (on the loop): None when the stream is not to be had.
FindHub = Callable[[], Coroutine[Any, Any, StreamHub | None]]


class CameraFactory(GstRtspServer.RTSPMediaFactory):
    """`/CAMERA_ID` or `/CAMERA_ID/sub`: one media shared by every client, built when the first
    client asks (DESCRIBE) and unprepared after the last one leaves."""

    def __init__(self, camera_id: str, stream: str, hub: StreamHub, audio: bool, udp: bool,
                 on_media: MediaReady, find_hub: FindHub | None = None) -> None:
        super().__init__()
        self.camera_id = camera_id
        self.stream = stream
        #: The hub the next media reads: the camera's own, or a relay's (restream/relay.py) once
        #: `find_hub` (awaited on the loop before a client is let in) said so.
        self.hub = hub
        self.find_hub = find_hub
        #: Bytes fed into this mount's medias since it was mounted (restream/clients.py counts from it).
        self.fed_bytes = 0
        self._audio = audio
        self._on_media = on_media
        self._plan: MediaPlan | None = None
        self.set_shared(True)
        self.set_suspend_mode(GstRtspServer.RTSPSuspendMode.NONE)
        lower = GstRtsp.RTSPLowerTrans.TCP
        if udp:
            lower |= GstRtsp.RTSPLowerTrans.UDP
        self.set_protocols(lower)
        self.connect("media-configure", self._configure)

    def available(self) -> bool:
        """Whether the camera's stream is up in a codec restreamed untouched."""
        return plan_media(self.hub.streams, self._audio) is not None

    def fed(self, size: int) -> None:
        """Count `size` bytes pushed into one of this mount's medias (the feeder, on the loop)."""
        self.fed_bytes += size

    def do_create_element(self, url: GstRtsp.RTSPUrl) -> Gst.Element | None:
        # Reads the hub's stream list from GStreamer's thread: one attribute read of an immutable tuple.
        plan = plan_media(self.hub.streams, self._audio)
        if plan is None:
            log.info("rtsp: camera %s (%s) is offline or not H.264/H.265: no media", self.camera_id, self.stream)
            return None
        self._plan = plan
        return Gst.parse_launch(plan.launch)

    def _configure(self, _factory: CameraFactory, media: GstRtspServer.RTSPMedia) -> None:
        plan = self._plan
        if plan is None:
            return
        element = media.get_element()
        sinks = [AppSrcSink(element.get_by_name(f"src{i}")) for i in range(len(plan.streams))]
        self._on_media(self, media, plan, sinks)
