"""A camera's replay mount, `/CAMERA_ID/playback`: a media factory building one media per client
(never shared: each client replays its own window) from the plan restream/auth.py made for the request
(restream/replayplan.py), and handing the media's appsrcs on to be fed (restream/replayfeed.py)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from restream.gst import Gst, GstRtsp, GstRtspServer
from restream.media import AppSrcSink
from restream.replayplan import ReplayPlan

log = logging.getLogger(__name__)

#: What the factory hands on when a media is built: the factory, the media, its plan and its appsrcs.
ReplayReady = Callable[["ReplayFactory", GstRtspServer.RTSPMedia, ReplayPlan, list[AppSrcSink]], None]


class ReplayFactory(GstRtspServer.RTSPMediaFactory):
    """`/CAMERA_ID/playback`: a media per client, built from the plan of the request that asked."""

    def __init__(self, camera_id: str, udp: bool, on_media: ReplayReady) -> None:
        super().__init__()
        self.camera_id = camera_id
        self.stream = "playback"
        self._on_media = on_media
        # The auth check, the media's construction and its configure signal run in one server
        # thread, one after the other, for one request: the plan goes from one to the next by the
        # thread's id. Not threading.local: each call from GStreamer's (non-Python) thread gets a new
        # Python thread state, and what a threading.local held is gone with the last one.
        self._pending: dict[int, ReplayPlan] = {}
        self._lock = threading.Lock()
        self.set_shared(False)
        self.set_suspend_mode(GstRtspServer.RTSPSuspendMode.NONE)
        lower = GstRtsp.RTSPLowerTrans.TCP
        if udp:
            lower |= GstRtsp.RTSPLowerTrans.UDP
        self.set_protocols(lower)
        self.connect("media-configure", self._configure)

    def expect(self, plan: ReplayPlan) -> None:
        """The plan of the request this thread is serving (restream/auth.py, before the media is built)."""
        with self._lock:
            self._pending[threading.get_ident()] = plan

    def do_create_element(self, url: GstRtsp.RTSPUrl) -> Gst.Element | None:
        with self._lock:
            plan = self._pending.get(threading.get_ident())
        if plan is None:
            log.warning("rtsp replay: a media for %s without a plan", self.camera_id)
            return None
        return Gst.parse_launch(plan.media.launch)

    def _configure(self, _factory: ReplayFactory, media: GstRtspServer.RTSPMedia) -> None:
        with self._lock:
            plan = self._pending.pop(threading.get_ident(), None)
        if plan is None:
            return
        element = media.get_element()
        sinks = [AppSrcSink(element.get_by_name(f"src{i}")) for i in range(len(plan.media.streams))]
        self._on_media(self, media, plan, sinks)
