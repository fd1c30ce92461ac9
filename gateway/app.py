"""The composition root: builds every part, owns every task, and tears down in reverse."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from datetime import datetime
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alerts.bus import AlertBus
from alerts.delivery import Courier
from alerts.outbox import Outbox
from alerts.sinks import configured_sinks
from camera_events.service import EventService, onvif_clients
from camera_events.store import EventStore
from cases.book import CaseBook
from cases.inputtriggers import InputTriggers
from cases.minutes import Minutes
from cases.numbering import next_number
from cases.mqtttriggers import MqttTriggers
from cases.signing import MinutesSigner
from cases.triggers import TriggerGate
from cases.watch import CaseWatch
from cluster.fencing import still_owner
from cluster.keeper import LeaseKeeper
from cluster.leases import LeaseBook
from cluster.membership import Membership
from core.clock import Clock, SystemClock
from core.config import CameraConfig, Settings
from core.db import make_engine, make_sessionmaker
from core.sealing import load_or_create_key as load_sealing_key
from desk.equipment import EquipmentProbes, database_ping, recorder_storage
from desk.service import Desk
from evidence.bookmarks import Bookmarks
from evidence.exportjobs import export_jobs
from evidence.snapshots import Snapshots
from evidence.jobwriter import BundleWriter
from evidence.recordinglog import RecordingLog
from fleet.camerafleet import CameraFleet
from fleet.camerastore import KEY_NAME as CAMERA_KEY_NAME
from fleet.camerastore import CameraStore
from fleet.statealerts import StateAlerts
from fleet.statushistory import StatusLog
from gateway.http.tls import server_context
from gateway.http.webapp import build_app
from gateway.migrations import upgrade
from gateway.services import Services
from onvif_adapters.ptz import PtzSessions
from gateway.rtspwiring import RtspRestreamLike, start_rtsp
from gateway.onvifwiring import OnvifPtzBridge, relay_camera_events, relay_state
from onvif_server.facade import OnvifServer
from onvif_adapters.source import resolver_for
from onvif_adapters.subscription import CameraEvent
from policy.audit.accesslog import AccessLog
from policy.audit.entries import AccessAction, AccessEvent
from policy.audit.records import RecordWriter
from policy.audit.setup import key_path, open_access_log, record_config
from policy.audit.signingkey import load_or_create_key, public_key_text
from reports import Letterhead
from policy.dispositions.tokenkeys import default_token_key_path, load_or_create_signing_key
from policy.dispositions.workflow import DispositionService
from policy.identity.devicesecrets import DeviceSecrets, default_device_key_path, load_or_create_device_key
from policy.identity.links import LinkSigner, default_link_key_path, load_or_create_link_key
from policy.identity.linkuses import LinkUses
from policy.identity.displays import DisplayStore
from policy.identity.sessions import SessionStore
from policy.identity.throttle import LoginThrottle
from gateway.refusallog import RefusalLog
from policy.identity.useradmin import UserAdmin
from policy.identity.users import UserStore
from recorder.service import Recorder
from streams.camera import Camera
from streams.state import CameraStatus
from webrtc.sessions import WhepSessions

log = logging.getLogger(__name__)

DEMO_CAMERA = CameraConfig(id="demo", name="Demo camera (synthetic)", source="demo://pattern")
INITIAL_PASSWORD_FILE = "initial-admin-password"


def with_demo(settings: Settings) -> Settings:
    """`settings` plus the built-in synthetic camera when no camera is configured."""
    if settings.cameras:
        return settings
    return settings.model_copy(update={"cameras": [DEMO_CAMERA]})


class Gateway:
    """One Pantau process: database, cameras, HTTP server."""

    def __init__(self, settings: Settings, clock: Clock | None = None, migrate: bool = True) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.migrate = migrate
        self.port: int | None = None
        self.services: Services | None = None
        #: The RTSP restream (restream.rtsp.enabled), once serving: tests read its port.
        self.rtsp: RtspRestreamLike | None = None

    async def run(self, on_ready: Callable[[Gateway], None] | None = None) -> None:
        """Serve until cancelled; every task is awaited and every resource closed on the way out."""
        settings = self.settings
        tls = server_context(settings.server)  # a bad certificate stops the start before anything runs
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.storage.path.mkdir(parents=True, exist_ok=True)
        if self.migrate and settings.database.migrate_on_start:
            await asyncio.to_thread(upgrade, settings.database_url)
        async with AsyncExitStack() as stack:
            services, status_log = await assemble(settings, self.clock, stack)
            for courier in services.couriers:
                await courier.prepare()
            await record_config(settings, services.access_log)
            await self._bootstrap_admin(services.users, services.access_log)
            self.services = services
            runner = web.AppRunner(build_app(services), handle_signals=False, access_log=None)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            site = web.TCPSite(runner, settings.server.host, settings.server.port, ssl_context=tls)
            await site.start()
            self.port = _bound_port(site)
            membership = await self._join_cluster(stack, services)
            log.info(
                "listening on %s://%s:%d with %d camera(s)",
                "https" if tls else "http", settings.server.host, self.port, len(services.cameras),
            )
            # The access log's checkpointer outlives every other task, so whatever they
            # record while stopping is still covered by a final signed checkpoint.
            async with asyncio.TaskGroup() as outer:
                outer.create_task(services.access_log.run(), name="access-log")
                async with asyncio.TaskGroup() as tasks:
                    tasks.create_task(status_log.run(), name="status-log")
                    tasks.create_task(services.recorder.run(), name="recorder")
                    tasks.create_task(services.webrtc.run(), name="whep")
                    tasks.create_task(services.events.run(), name="events")
                    tasks.create_task(services.fleet.run(), name="cameras")
                    tasks.create_task(services.alerts.run(), name="alerts")
                    tasks.create_task(services.desk.run(), name="desk")
                    tasks.create_task(CaseWatch(services.db, self.clock, services.cases).run(), name="cases")
                    tasks.create_task(services.exports.run(), name="exports")
                    tasks.create_task(services.refusals.run(), name="refusals")
                    if membership is not None:
                        tasks.create_task(membership.run(), name="node-heartbeat")
                        keeper = LeaseKeeper(LeaseBook(services.db, membership.node_id, settings.cluster.lease_s),
                                             services.recorder, settings.cluster, services.db)
                        services.fleet.on_added(lambda _camera: keeper.wake())
                        tasks.create_task(keeper.run(), name="camera-leases")
                    self._start_triggers(tasks, services)
                    if settings.restream.rtsp.enabled:
                        self.rtsp = await start_rtsp(tasks, services, self.clock)
                    if services.onvif_server is not None:
                        tasks.create_task(services.onvif_server.run(), name="onvif-events")
                        tasks.create_task(relay_camera_events(services.events, services.onvif_server),
                                          name="onvif-event-relay")
                        if settings.onvif_server.discovery:
                            tasks.create_task(services.onvif_server.discovery(self.port).run(), name="onvif-discovery")
                    for courier in services.couriers:
                        tasks.create_task(courier.run(), name=f"alerts:{courier.sink.name}")
                    if on_ready is not None:
                        on_ready(self)
                    await asyncio.Event().wait()  # until cancelled

    async def _join_cluster(self, stack: AsyncExitStack, services: Services) -> Membership | None:
        """With cluster enabled, register this process as a node (its id and URL default to the host
        name and the port it listens on), marked stopped when `stack` closes."""
        if not self.settings.cluster_enabled:
            return None
        assert self.port is not None
        cfg, host = self.settings.cluster, socket.gethostname()
        membership = Membership(services.db, cfg, cfg.node_id_for(host, self.port), cfg.advertise_url_for(host, self.port))
        return await stack.enter_async_context(membership)

    def _start_triggers(self, tasks: asyncio.TaskGroup, services: Services) -> None:
        """The trigger gate's log writer, and the MQTT and camera-input sources that feed it."""
        cfg = self.settings.cases
        tasks.create_task(services.triggers.run(), name="triggers")
        if cfg.trigger_broker is not None:
            # Its own task with its own reconnect loop: a broker that is away holds up nothing else.
            tasks.create_task(MqttTriggers(cfg.trigger_broker, cfg.playbooks, services.triggers).run(),
                              name="triggers:mqtt")
        if any(p.onvif_inputs for p in cfg.playbooks):
            tasks.create_task(InputTriggers(cfg.playbooks, services.triggers).run(CameraEventFeed(services.events)),
                              name="triggers:onvif")

    async def _bootstrap_admin(self, users: UserStore, access_log: AccessLog) -> None:
        """First start: create `admin` with a random password in an owner-only file."""
        if await users.count() > 0:
            return
        password = secrets.token_urlsafe(18)
        path = self.settings.data_dir / INITIAL_PASSWORD_FILE
        await users.add("admin", "admin", password)
        await access_log.record(
            AccessEvent(AccessAction.USER_CREATED, actor="system", reason="first start",
                        details={"username": "admin", "role": "admin"})
        )
        _write_private(path, password + "\n")
        log.warning("no users yet: created user 'admin'; its password is in %s", path)


async def assemble(settings: Settings, clock: Clock, stack: AsyncExitStack) -> tuple[Services, StatusLog]:
    """Build every part and wire them together; resources close with `stack`. Nothing runs yet:
    the caller owns the tasks (`Gateway.run`), so tests can build the same parts without serving."""
    engine = make_engine(settings.database_url, echo=settings.database.echo)
    stack.push_async_callback(engine.dispose)
    db = make_sessionmaker(engine)
    alerts = AlertBus(settings.alerts, Outbox(db), clock)
    access_log = await open_access_log(settings, engine, clock, alerts)
    status_log = StatusLog(db)
    state_alerts = StateAlerts(alerts)

    # Told of every state change after the two above; the ONVIF facade adds itself once built.
    status_listeners: list[Callable[[str, CameraStatus | None, CameraStatus], None]] = []

    def on_status(camera_id: str, old: CameraStatus | None, new: CameraStatus) -> None:
        status_log(camera_id, old, new)
        state_alerts(camera_id, old, new)
        for listener in status_listeners:
            listener(camera_id, old, new)
    camera_store = CameraStore(db, clock, await asyncio.to_thread(
        load_sealing_key, settings.data_dir / CAMERA_KEY_NAME, "camera-secrets"))
    onboarded = await camera_store.load({c.id for c in settings.cameras})

    def make_camera(cfg: CameraConfig) -> Camera:
        return Camera(
            cfg, settings.camera_health(cfg), settings.hub.subscriber_queue, clock, on_status,
            resolver=resolver_for(cfg, settings.onvif), sub_resolver=resolver_for(cfg, settings.onvif, "sub"),
        )

    fleet = CameraFleet(make_camera, [*settings.cameras, *onboarded])
    cameras = fleet.cameras
    # Several nodes: each records only the cameras it holds a lease on, and a segment is indexed only
    # under its camera's current lease (cluster/keeper.py, cluster/fencing.py).
    recorder = Recorder(settings, db, clock, cameras, RecordingLog(access_log), alerts,
                        fence=still_owner if settings.cluster_enabled else None)
    token_key = await asyncio.to_thread(
        load_or_create_signing_key,
        settings.access.disposition.key_path or default_token_key_path(settings.data_dir),
    )
    dispositions = DispositionService(
        db, clock, settings.access, token_key, access_log, settings.data_dir,
        {c.id: c.config.groups for c in cameras.values()},
    )
    fleet.on_added(recorder.camera_added)
    fleet.on_added(lambda cam: dispositions.add_camera(cam.id, cam.config.groups))
    event_store = EventStore(db, clock, settings.events.keep_days) if settings.events.store else None
    events = EventService(settings.events, clock, cameras, onvif_clients, event_store, alerts)
    fleet.on_added(events.camera_added)
    ptz = PtzSessions()
    stack.push_async_callback(ptz.aclose)
    auth = settings.auth
    webrtc = WhepSessions(access_log, clock, settings.webrtc)
    # A camera changed while running: its viewers are told, its open segment is sealed,
    # its event subscription and PTZ connection are closed, before the old source stops.
    fleet.on_removed(lambda cam: webrtc.end_live(cam.id, "camera reconfigured by an administrator"))
    fleet.on_removed(recorder.camera_removed)
    fleet.on_removed(events.camera_removed)
    fleet.on_removed(lambda cam: ptz.forget(cam.id))
    cases = await _case_book(settings, clock, db, access_log, recorder, alerts, cameras)
    log_key = await asyncio.to_thread(load_or_create_key, key_path(settings))
    writer = BundleWriter(access_log, engine, recorder.store,
                          public_key_text(log_key, access_log.origin), clock, recorder.reader)
    exports = export_jobs(db, clock, settings.data_dir, writer, recorder.holds, access_log,
                          settings.recording.max_exports, settings.recording.export_keep_h, known=cameras.__contains__,
                          stream_of=recorder.stream_of)
    device_secrets = DeviceSecrets(db, await asyncio.to_thread(
        load_or_create_device_key, default_device_key_path(settings.data_dir)), clock)
    services = Services(
        settings=settings,
        clock=clock,
        engine=engine,
        db=db,
        users=UserStore(db, clock, device_secrets),
        user_admin=UserAdmin(db, clock, settings.access.admin_roles, device_secrets),
        device_secrets=device_secrets,
        sessions=SessionStore(db, clock, auth.session_ttl_s),
        displays=DisplayStore(db, clock),
        throttle=LoginThrottle(
            clock, auth.max_failures, auth.failure_window_s, auth.lockout_s,
            burst=settings.alerts.signin_burst, burst_window_s=settings.alerts.signin_burst_window_s, alerts=alerts,
        ),
        refusals=RefusalLog(access_log, clock),
        cameras=cameras,
        started_at=clock.now(),
        access_log=access_log,
        dispositions=dispositions,
        recorder=recorder,
        webrtc=webrtc,
        fleet=fleet,
        events=events,
        ptz=ptz,
        camera_store=camera_store,
        alerts=alerts,
        couriers=[
            Courier(sink, alerts, retry, lambda camera: _groups(cameras, camera))
            for sink, retry in configured_sinks(settings.alerts)
        ],
        desk=Desk(db, clock, settings.desk, access_log, alerts, _readings(EquipmentProbes(
            settings.desk.equipment, settings.desk.probe_timeout_s,
            storage=recorder_storage(recorder), database=database_ping(engine),
        ))),
        cases=cases,
        triggers=TriggerGate(settings.cases.playbooks, cases, access_log, clock),
        exports=exports,
        links=LinkSigner(await asyncio.to_thread(load_or_create_link_key, default_link_key_path(settings.data_dir))),
        link_uses=LinkUses(db, clock),
        bookmarks=Bookmarks(db, clock, RecordWriter(db, access_log)),
        snapshots=Snapshots(db, clock, access_log, settings.data_dir / "snapshots"),
    )
    if settings.onvif_server.enabled:
        onvif_server = OnvifServer(settings, clock, cameras, access_log, device_secrets.password,
                                   services.throttle, OnvifPtzBridge(ptz), recorder.index)
        services.onvif_server = onvif_server
        status_listeners.append(lambda camera_id, old, new: relay_state(onvif_server, camera_id, old, new))
    return services, status_log


class CameraEventFeed:
    """The events service as cases/inputtriggers.py reads it: cases/ does not import camera_events
    (the same layer), so the composition root hands it a feed."""

    def __init__(self, events: EventService) -> None:
        self._events = events

    async def follow(self, cameras: Collection[str]) -> AsyncIterator[CameraEvent]:
        """Every event of `cameras` as it arrives, until the events service stops."""
        with self._events.listen(lambda camera: camera in cameras) as listener:
            while (event := await listener.queue.get()) is not None:
                yield event


async def _case_book(
    settings: Settings, clock: Clock, db: async_sessionmaker[AsyncSession], access_log: AccessLog, recorder: Recorder,
    alerts: AlertBus, cameras: dict[str, Camera],
) -> CaseBook:
    cfg, zone = settings.cases, settings.desk.zone
    letterhead = Letterhead(settings.desk.room_name, settings.desk.room_subtitle, settings.desk.logo)
    signer = await asyncio.to_thread(MinutesSigner.configured, cfg, settings.data_dir)  # reads or writes the key
    minutes = Minutes(db, cfg, letterhead, zone, signer, clock=clock)

    async def numberer(session: AsyncSession, when: datetime) -> str:
        return await next_number(session, cfg.numbering, when.astimezone(zone))

    def of_groups(groups: Sequence[str]) -> list[str]:
        return [c.id for c in list(cameras.values()) if set(groups) & set(c.config.groups)]

    return CaseBook(db, clock, cfg, RecordWriter(db, access_log), recorder.holds, alerts, minutes, numberer, of_groups,
                    settings.data_dir / "cases")


def _readings(probes: EquipmentProbes) -> Callable[[], Awaitable[dict[str, dict[str, Any]]]]:
    async def probe_all() -> dict[str, dict[str, Any]]:
        return {item: reading.as_dict() for item, reading in (await probes.probe_all()).items()}

    return probe_all


def _groups(cameras: dict[str, Camera], camera_id: str) -> tuple[str, ...]:
    camera = cameras.get(camera_id)
    return tuple(camera.config.groups) if camera is not None else ()


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _bound_port(site: web.TCPSite) -> int:
    server = site._server  # aiohttp exposes the bound socket only here
    sockets = getattr(server, "sockets", None)
    assert sockets, "site is not listening"
    return int(sockets[0].getsockname()[1])
