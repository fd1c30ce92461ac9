"""The RTSP server's gatekeeper inside GStreamer: a GstRtspServer.RTSPAuth whose `check` answers every
request. Digest answers and visibility are decided by restream/gate.py on the gateway's loop; this
class reads the request, asks, and sends the refusal (GstRtspServer sends none of its own when a
check fails)."""

from __future__ import annotations

import logging

from restream.bridge import GatewayBusy, LoopBridge
from restream.clients import ClientBook, ClientState
from restream.digest import REALM, NonceBook, NonceState, challenge, parse_authorization
from restream.gate import RtspGate, Verdict, Viewer
from restream.gst import GstRtsp, GstRtspServer
from restream.media import CameraFactory
from restream.replaymedia import ReplayFactory
from restream.replayplan import ReplayPlan, ReplayPlanner

log = logging.getLogger(__name__)

CHECK_CONNECT = "auth.check.connect"
CHECK_URL = "auth.check.url"
CHECK_ACCESS = "auth.check.media.factory.access"
CHECK_CONSTRUCT = "auth.check.media.factory.construct"
CHECK_TRANSPORT = "auth.check.transport.client-settings"


class PantauAuth(GstRtspServer.RTSPAuth):
    """Digest (realm "Pantau", MD5, our own nonces) against integrator accounts, then `live` per camera."""

    def __init__(self, gate: RtspGate, bridge: LoopBridge, clients: ClientBook, max_connections: int,
                 planner: ReplayPlanner | None = None) -> None:
        super().__init__()
        self._gate = gate
        self._planner = planner
        self._bridge = bridge
        self._clients = clients
        self._max_connections = max_connections
        self.nonces = NonceBook()

    def do_check(self, ctx: GstRtspServer.RTSPContext, check: str) -> bool:
        try:
            if check == CHECK_CONNECT:
                # Refused connections are closed before a byte is read: a flood of idle sockets
                # cannot take the server's file descriptors.
                return len(self._clients) < self._max_connections
            if check == CHECK_URL:
                return self._authenticate(ctx)
            state = self._clients.get(ctx.client)
            if state is None or state.viewer is None:
                return False
            if check == CHECK_ACCESS:
                return self._may_watch(ctx)
            return check in (CHECK_CONSTRUCT, CHECK_TRANSPORT)
        except GatewayBusy:
            self._respond(ctx, GstRtsp.RTSPStatusCode.SERVICE_UNAVAILABLE)
            return False
        except Exception:
            # An exception must not escape into GStreamer's thread: refuse instead.
            log.exception("rtsp: check %s failed", check)
            self._respond(ctx, GstRtsp.RTSPStatusCode.INTERNAL_SERVER_ERROR)
            return False

    def _authenticate(self, ctx: GstRtspServer.RTSPContext) -> bool:
        state = self._clients.get(ctx.client)
        if state is None:
            return False
        state.requests += 1
        state.viewer = None  # every request proves itself
        result, header = ctx.request.get_header(GstRtsp.RTSPHeaderField.AUTHORIZATION, 0)
        answer = parse_authorization(header if result == GstRtsp.RTSPResult.OK else None)
        if answer is None or answer.realm != REALM:
            return self._challenge(ctx)
        nonce = self.nonces.state(answer.nonce)
        if nonce != NonceState.FRESH:
            return self._challenge(ctx, stale=nonce == NonceState.STALE)
        method = GstRtsp.rtsp_method_as_text(ctx.method)
        viewer = self._bridge.call(self._gate.sign_in(answer, method, state.address))
        if viewer is None:
            return self._challenge(ctx)
        state.viewer = viewer
        return True

    def _may_watch(self, ctx: GstRtspServer.RTSPContext) -> bool:
        factory = ctx.factory
        state = self._clients.get(ctx.client)
        if isinstance(factory, ReplayFactory) and state is not None and state.viewer is not None:
            return self._may_replay(ctx, factory, state.viewer, state)
        if not isinstance(factory, CameraFactory) or state is None or state.viewer is None:
            self._respond(ctx, GstRtsp.RTSPStatusCode.NOT_FOUND)
            return False
        verdict = self._bridge.call(self._gate.may_watch(state.viewer, factory.camera_id, ctx.uri.abspath,
                                                         state.address))
        if verdict is Verdict.OK and factory.find_hub is not None:
            # The camera's own hub, or a relay's when another node ingests it (restream/relay.py).
            hub = self._bridge.call(factory.find_hub())
            if hub is not None:
                factory.hub = hub
        if verdict is Verdict.OK and not factory.available():
            verdict = Verdict.UNAVAILABLE  # offline: say so now rather than build a media that never prerolls
        if verdict is Verdict.OK:
            return True
        self._respond(ctx, GstRtsp.RTSPStatusCode(int(verdict)))
        return False

    def _may_replay(self, ctx: GstRtspServer.RTSPContext, factory: ReplayFactory, viewer: Viewer,
                    state: ClientState) -> bool:
        """`playback` of the window the URL asks for; the plan goes to the factory building the media.
        The plan made at DESCRIBE serves the same connection's SETUP (the same media)."""
        plan = state.replay_plan
        describe = ctx.method == GstRtsp.RTSPMethod.DESCRIBE
        if not describe and plan is not None and plan.viewer == viewer.username and plan.camera == factory.camera_id:
            factory.expect(plan)
            return True
        if self._planner is None:
            self._respond(ctx, GstRtsp.RTSPStatusCode.NOT_FOUND)
            return False
        answer = self._bridge.call(self._planner.plan(viewer, factory.camera_id, ctx.uri.query, ctx.uri.abspath,
                                                      state.address))
        if not isinstance(answer, ReplayPlan):
            self._respond(ctx, GstRtsp.RTSPStatusCode(int(answer)))
            return False
        state.replay_plan = answer
        factory.expect(answer)
        return True

    def _challenge(self, ctx: GstRtspServer.RTSPContext, stale: bool = False) -> bool:
        self._respond(ctx, GstRtsp.RTSPStatusCode.UNAUTHORIZED,
                      (GstRtsp.RTSPHeaderField.WWW_AUTHENTICATE, challenge(self.nonces.issue(), stale)))
        return False

    @staticmethod
    def _respond(ctx: GstRtspServer.RTSPContext, code: GstRtsp.RTSPStatusCode,
                 *headers: tuple[GstRtsp.RTSPHeaderField, str]) -> None:
        if ctx.request is None or ctx.client is None:
            return
        _result, message = GstRtsp.rtsp_message_new_response(code, None, ctx.request)
        for name, value in headers:
            message.add_header(name, value)
        ctx.client.send_message(ctx.session, message)
