"""GStreamer's RTSP server in a thread of its own: its GLib main loop, the mounts, the session pool's
expiry, and the client signals that restream/clients.py turns into access-log entries."""

from __future__ import annotations

import logging
import threading
import time

from core.integrationconfig import RtspOut
from restream.clients import ClientBook, Playing
from restream.gst import GLib, GstRtsp, GstRtspServer
from restream.media import CameraFactory
from restream.replaycontrol import ReplayControl
from restream.replaymedia import ReplayFactory

log = logging.getLogger(__name__)

# GStreamer serves clients from a pool of threads, each with its own main loop; a request waiting on
# the gateway (a sign-in's database read) holds up only the clients that share its thread.
CLIENT_THREADS = 8
# A connection that has not completed one request after this long is closed (a half-open client
# holding a socket); a real client sends OPTIONS or DESCRIBE at once.
REQUEST_TIMEOUT_S = 10.0
# How often idle connections and expired sessions (UDP clients that vanished without TEARDOWN,
# after the session's 60 s timeout) are swept.
SWEEP_S = 2


class ServerStartFailed(Exception):
    """The RTSP server could not listen (address in use, bad host)."""


class RtspServerThread:
    """The RTSP server and the thread running its main loop; start() and stop() from the gateway's loop
    thread (stop() blocks: call it through asyncio.to_thread)."""

    def __init__(self, config: RtspOut, auth: GstRtspServer.RTSPAuth, clients: ClientBook,
                 replays: ReplayControl | None = None) -> None:
        self._config = config
        self._clients = clients
        self._replays = replays
        self._context = GLib.MainContext.new()
        self._loop = GLib.MainLoop.new(self._context, False)
        self._thread: threading.Thread | None = None
        self._factories: dict[str, CameraFactory | ReplayFactory] = {}
        self._lock = threading.Lock()
        server = GstRtspServer.RTSPServer()
        server.set_address(config.host)
        server.set_service(str(config.port))
        server.set_auth(auth)
        server.get_session_pool().set_max_sessions(config.max_clients)
        server.get_thread_pool().set_max_threads(CLIENT_THREADS)
        server.connect("client-connected", self._connected)
        self._server = server
        self._source_id = 0
        self.port = 0

    def start(self) -> None:
        """Listen and run the main loop in its thread; ServerStartFailed when it cannot listen."""
        self._source_id = self._server.attach(self._context)
        if self._source_id == 0:
            raise ServerStartFailed(f"cannot listen on {self._config.host}:{self._config.port}")
        self.port = self._server.get_bound_port()
        sweep = GLib.timeout_source_new_seconds(SWEEP_S)
        sweep.set_callback(self._sweep)
        sweep.attach(self._context)
        self._thread = threading.Thread(target=self._loop.run, name="rtsp-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close every client (each session's live_stop is recorded), stop the loop, join the thread."""
        if self._thread is None:
            return
        done = threading.Event()

        def close_all() -> bool:
            # The listening socket belongs to the server's source: destroyed, the port is free at once.
            source = self._context.find_source_by_id(self._source_id)
            if source is not None:
                source.destroy()
            self._server.client_filter(lambda _server, _client: GstRtspServer.RTSPFilterResult.REMOVE)
            self._loop.quit()
            done.set()
            return False

        self._context.invoke_full(GLib.PRIORITY_DEFAULT, close_all)
        done.wait(10)
        self._thread.join(10)
        for client in self._clients.all():
            self._clients.closed(client, "gateway stopping")
        self._thread = None

    def mount(self, path: str, factory: CameraFactory | ReplayFactory) -> None:
        """Serve `factory` at `path` (replacing what was there)."""
        with self._lock:
            self._factories[path] = factory
        self._server.get_mount_points().add_factory(path, factory)

    def unmount(self, path: str) -> None:
        """Stop serving `path` to new clients."""
        with self._lock:
            self._factories.pop(path, None)
        self._server.get_mount_points().remove_factory(path)

    def close(self, clients: list[object]) -> None:
        """Close these connections, from the server's own thread (their live_stop follows)."""
        if not clients or self._thread is None:
            return

        def close_them() -> bool:
            for client in clients:
                client.close()  # type: ignore[attr-defined]
            return False

        self._context.invoke_full(GLib.PRIORITY_DEFAULT, close_them)

    def factory_at(self, path: str) -> CameraFactory | ReplayFactory | None:
        """The mount serving request path `path` (a control URL like /cam/stream=0 included)."""
        path = path.rstrip("/")
        with self._lock:
            while path:
                if path in self._factories:
                    return self._factories[path]
                path = path.rpartition("/")[0]
        return None

    def _connected(self, _server: GstRtspServer.RTSPServer, client: GstRtspServer.RTSPClient) -> None:
        self._clients.opened(client, client.get_connection().get_ip() or "")
        client.connect("play-request", self._played)
        client.connect("teardown-request", self._torn_down)
        client.connect("closed", self._closed)
        replays = self._replays
        if replays is not None:
            client.connect("check-requirements", lambda _c, _ctx, required: replays.unsupported(list(required)))
            client.connect("pre-play-request", replays.pre_play)
            client.connect("pause-request", lambda _c, ctx: replays.paused(ctx))

    def _played(self, client: GstRtspServer.RTSPClient, ctx: GstRtspServer.RTSPContext) -> None:
        factory = self.factory_at(ctx.uri.abspath) if ctx.uri is not None else None
        if factory is None or ctx.session is None:
            return
        transport = "tcp"
        if ctx.sessmedia is not None:
            stream_transport = ctx.sessmedia.get_transport(0)
            if stream_transport is not None:
                lower = stream_transport.get_transport().lower_transport
                transport = "tcp" if lower & GstRtsp.RTSPLowerTrans.TCP else "udp"
        if isinstance(factory, ReplayFactory):
            replay = self._replays.feeder(ctx) if self._replays is not None else None
            if replay is None:
                return
            self._clients.play(client, Playing(
                session=ctx.session.get_sessionid(), camera=factory.camera_id, stream=factory.stream,
                transport=transport, started=time.monotonic(), bytes_at_start=0, bytes_now=lambda: 0,
                replay=replay))
            if self._replays is not None:
                self._replays.played(ctx)
            return
        self._clients.play(client, Playing(
            session=ctx.session.get_sessionid(), camera=factory.camera_id, stream=factory.stream,
            transport=transport, started=time.monotonic(), bytes_at_start=factory.fed_bytes,
            bytes_now=lambda: factory.fed_bytes))

    def _torn_down(self, client: GstRtspServer.RTSPClient, ctx: GstRtspServer.RTSPContext) -> None:
        if ctx.session is not None:
            self._clients.stop(client, ctx.session.get_sessionid(), "teardown")

    def _closed(self, client: GstRtspServer.RTSPClient) -> None:
        self._clients.closed(client)

    def _sweep(self, *_args: object) -> bool:
        for client in self._clients.idle(REQUEST_TIMEOUT_S):
            log.info("rtsp: closing a connection that sent no complete request in %.0f s", REQUEST_TIMEOUT_S)
            client.close()  # type: ignore[attr-defined]
        self._server.get_session_pool().cleanup()
        return True
