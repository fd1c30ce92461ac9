"""The RTSP requests that steer a replay, from GStreamer's threads: `Require: onvif-replay` accepted on
replay mounts, a PLAY's `Range: clock=` checked against the policy and turned into a seek, PLAY and
PAUSE handed to the media's feeder on the gateway's loop."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from restream.bridge import GatewayBusy, LoopBridge
from restream.clients import ClientBook
from restream.gate import Verdict
from restream.gst import GstRtsp, GstRtspServer
from restream.replayfeed import Play, ReplayFeeder
from restream.replayplan import ReplayPlanner
from restream.replayrequest import ONVIF_REPLAY, BadReplayRequest, clock_range

log = logging.getLogger(__name__)

Status = GstRtsp.RTSPStatusCode


@dataclass
class _Replay:
    camera: str
    feeder: ReplayFeeder
    pending: Play | None = None  # what the next PLAY starts (a Range: clock= checked at pre-play)


class ReplayControl:
    """Every replay media's feeder, by media; thread-safe."""

    def __init__(self, planner: ReplayPlanner, bridge: LoopBridge, clients: ClientBook) -> None:
        self._planner = planner
        self._bridge = bridge
        self._clients = clients
        self._lock = threading.Lock()
        self._replays: dict[object, _Replay] = {}

    def add(self, media: GstRtspServer.RTSPMedia, camera: str, feeder: ReplayFeeder) -> None:
        """A replay media was built (its feeder runs from now until remove())."""
        with self._lock:
            self._replays[media] = _Replay(camera, feeder)

    def remove(self, media: object) -> None:
        with self._lock:
            self._replays.pop(media, None)

    def feeder(self, ctx: GstRtspServer.RTSPContext) -> ReplayFeeder | None:
        """The feeder of the request's session media, if it is a replay."""
        found = self._find(ctx)
        return found.feeder if found is not None else None

    def _find(self, ctx: GstRtspServer.RTSPContext) -> _Replay | None:
        if ctx.sessmedia is None:
            return None
        media = ctx.sessmedia.get_media()
        with self._lock:
            return self._replays.get(media)

    @staticmethod
    def unsupported(requirements: list[str]) -> str:
        """`check-requirements`: the option tags not supported, comma-separated ("" for none)."""
        return ",".join(r for r in requirements if r != ONVIF_REPLAY)

    def pre_play(self, client: GstRtspServer.RTSPClient, ctx: GstRtspServer.RTSPContext) -> GstRtsp.RTSPStatusCode:
        """Before a PLAY is answered: a `Range: clock=` must be readable and allowed (else 457, 403 or
        404, logged), and becomes where this PLAY starts; any other Range plays on from where it was."""
        replay = self._find(ctx)
        state = self._clients.get(client)
        if replay is None or state is None or state.viewer is None:
            return Status.OK
        result, header = ctx.request.get_header(GstRtsp.RTSPHeaderField.RANGE, 0)
        try:
            asked = clock_range(header if result == GstRtsp.RTSPResult.OK else None)
        except BadReplayRequest as exc:
            log.info("rtsp replay of %s: %s", replay.camera, exc)
            return Status.INVALID_RANGE
        if asked is None:
            with self._lock:
                replay.pending = Play()
            return Status.OK
        start, end = asked
        end = end or max(replay.feeder.window.end, self._planner.now())
        try:
            verdict = self._bridge.call(self._planner.may_replay(
                state.viewer, replay.camera, start, end, ctx.uri.abspath if ctx.uri else "", state.address))
        except GatewayBusy:
            return Status.SERVICE_UNAVAILABLE
        if verdict.verdict is not Verdict.OK:
            return Status(int(verdict.verdict))
        with self._lock:
            replay.pending = Play(start, end)
        return Status.OK

    def played(self, ctx: GstRtspServer.RTSPContext) -> None:
        """A PLAY was answered: the feeder (re)starts where pre_play said."""
        replay = self._find(ctx)
        if replay is None:
            return
        with self._lock:
            play, replay.pending = replay.pending or Play(), None
        self._bridge.post(replay.feeder.play, play.start, play.end)

    def paused(self, ctx: GstRtspServer.RTSPContext) -> None:
        """A PAUSE: the feeder stops pushing."""
        replay = self._find(ctx)
        if replay is not None:
            self._bridge.post(replay.feeder.pause)
