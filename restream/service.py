"""The RTSP restream as one of the gateway's services: owns GStreamer's server thread, one feeder task
per prepared media (live from the hub, or a replay from the sealed segments), and the writer of the
access-log entries the server's threads produce."""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from collections.abc import Mapping

from core.clock import Clock
from core.integrationconfig import RtspOut
from policy.audit.entries import AccessEvent, AccessRecorder
from restream.auth import PantauAuth
from restream.bridge import LoopBridge
from restream.clients import ClientBook
from restream.feeder import MediaFeeder
from restream.gate import RtspGate
from restream.gst import Gst, GstRtspServer
from restream.media import AppSrcSink, CameraFactory
from restream.pipeline import MediaPlan
from restream.relay import Relays
from restream.replaycontrol import ReplayControl
from restream.replayfeed import Recordings, ReplayFeeder
from restream.replaymedia import ReplayFactory
from restream.replayplan import ReplayPlan, ReplayPlanner, SpanOf
from restream.replayrequest import PLAYBACK
from restream.server import RtspServerThread
from streams.camera import Camera
from streams.feed import StreamName

log = logging.getLogger(__name__)

# Connections beyond max_clients kept open at once (clients between requests, refused ones being
# answered); more are closed at accept.
SPARE_CONNECTIONS = 16


def mount_path(camera_id: str, stream: StreamName | str) -> str:
    """`/CAMERA_ID` for the main stream, `/CAMERA_ID/sub` for the sub-stream, `/CAMERA_ID/playback`
    for the recording's replay."""
    return f"/{camera_id}" if stream == StreamName.MAIN else f"/{camera_id}/{stream}"


class RtspRestream:
    """rtsp://HOST:PORT/CAMERA_ID (and /sub) for integrator accounts, and /CAMERA_ID/playback when
    `recordings` are given; run() serves until cancelled."""

    def __init__(self, config: RtspOut, cameras: Mapping[str, Camera], gate: RtspGate,
                 access_log: AccessRecorder, recordings: Recordings | None = None,
                 span_of: SpanOf | None = None, clock: Clock | None = None, hub_queue: int = 64) -> None:
        self._config = config
        #: Cameras another node ingests, pulled here while clients watch them (restream/relay.py).
        self._relays = Relays(hub_queue, config.relay_idle_s)
        self._cameras = cameras
        self._gate = gate
        self._access_log = access_log
        self._planner = (ReplayPlanner(gate, recordings, span_of, clock)
                         if recordings is not None and span_of is not None and clock is not None else None)
        self._recordings = recordings
        self._replays: ReplayControl | None = None
        self._server: RtspServerThread | None = None
        self._tasks: asyncio.TaskGroup | None = None
        self._feeders: dict[int, MediaFeeder | ReplayFeeder] = {}
        self._keys = itertools.count()
        self._bridge: LoopBridge | None = None
        self._clients: ClientBook | None = None
        self._ready = asyncio.Event()
        #: The port listened on (config.port, or the one chosen when that is 0), once serving.
        self.port = 0

    async def wait_ready(self) -> None:
        """Until the server listens."""
        await self._ready.wait()

    async def run(self) -> None:
        """Listen, serve, and on cancellation close every client (their live_stop logged) and stop."""
        await asyncio.to_thread(Gst.init, None)
        bridge = LoopBridge(asyncio.get_running_loop())
        self._bridge = bridge
        entries: asyncio.Queue[AccessEvent] = asyncio.Queue()
        clients = ClientBook(lambda event: bridge.post(entries.put_nowait, event))
        self._clients = clients
        auth = PantauAuth(self._gate, bridge, clients, self._config.max_clients + SPARE_CONNECTIONS, self._planner)
        if self._planner is not None:
            self._replays = ReplayControl(self._planner, bridge, clients)
        server = RtspServerThread(self._config, auth, clients, self._replays)
        self._server = server
        for camera in list(self._cameras.values()):
            self.camera_added(camera)
        server.start()
        self.port = server.port
        log.info("rtsp restream on rtsp://%s:%d/CAMERA_ID", self._config.host, self.port)
        self._ready.set()
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                tasks.create_task(self._write(entries), name="rtsp:access-log")
                tasks.create_task(self._relays.run(), name="rtsp:relays")
                await asyncio.Event().wait()
        finally:
            self._tasks = None
            await asyncio.to_thread(server.stop)
            while not entries.empty():
                await self._access_log.record(entries.get_nowait())

    async def _write(self, entries: asyncio.Queue[AccessEvent]) -> None:
        while True:
            event = await entries.get()
            await self._access_log.record(event)

    def camera_added(self, camera: Camera) -> None:
        """Mount the camera's streams (a replaced camera's mounts now read the new one)."""
        if self._server is None:
            return
        self._relays.stop(camera.id)  # a replaced camera is relayed afresh
        for feed in camera.feeds:
            factory = CameraFactory(camera.id, str(feed.name), feed.hub, camera.config.audio, self._config.udp,
                                    self._media_ready, functools.partial(self._relays.hub_for, camera, feed.name))
            self._server.mount(mount_path(camera.id, feed.name), factory)
        if self._replays is not None:
            self._server.mount(mount_path(camera.id, PLAYBACK),
                               ReplayFactory(camera.id, self._config.udp, self._replay_ready))

    def camera_removed(self, camera: Camera) -> None:
        """Unmount the camera's streams and close the connections playing it (its source is going
        away; a client that reconnects gets the camera as it is now)."""
        if self._server is None or self._clients is None:
            return
        for name in (StreamName.MAIN, StreamName.SUB, PLAYBACK):
            self._server.unmount(mount_path(camera.id, name))
        self._relays.stop(camera.id)
        self._server.close(self._clients.end(camera.id, "camera reconfigured by an administrator"))

    def _media_ready(self, factory: CameraFactory, media: GstRtspServer.RTSPMedia, plan: MediaPlan,
                     sinks: list[AppSrcSink]) -> None:
        """A media was built (in GStreamer's thread): feed it from the loop until it is unprepared."""
        bridge = self._bridge
        if bridge is None:
            return
        feeder = MediaFeeder(f"{factory.camera_id}/{factory.stream}", factory.hub, plan.streams, sinks, factory.fed)
        key = next(self._keys)
        media.connect("unprepared", lambda _media: bridge.post(self._stop_feeder, key))
        bridge.post(self._start_feeder, key, feeder)

    def _replay_ready(self, factory: ReplayFactory, media: GstRtspServer.RTSPMedia, plan: ReplayPlan,
                      sinks: list[AppSrcSink]) -> None:
        """A replay media was built (in GStreamer's thread): replay into it until it is unprepared."""
        bridge, replays, recordings = self._bridge, self._replays, self._recordings
        if bridge is None or replays is None or recordings is None:
            return
        feeder = ReplayFeeder(f"{factory.camera_id}/playback", recordings, plan.camera, plan.window,
                              plan.media.streams, sinks, sound_primer=plan.sound_primer)
        key = next(self._keys)
        replays.add(media, plan.camera, feeder)

        def unprepared(gone: GstRtspServer.RTSPMedia) -> None:
            replays.remove(gone)
            bridge.post(self._stop_feeder, key)

        media.connect("unprepared", unprepared)
        bridge.post(self._start_feeder, key, feeder)

    def _start_feeder(self, key: int, feeder: MediaFeeder | ReplayFeeder) -> None:
        if self._tasks is None:
            return
        self._feeders[key] = feeder
        self._tasks.create_task(self._feed(key, feeder), name=f"rtsp:{feeder.name}")

    async def _feed(self, key: int, feeder: MediaFeeder | ReplayFeeder) -> None:
        try:
            await feeder.run()
        finally:
            if self._feeders.get(key) is feeder:
                del self._feeders[key]

    def _stop_feeder(self, key: int) -> None:
        feeder = self._feeders.pop(key, None)
        if feeder is not None:
            feeder.stop()
