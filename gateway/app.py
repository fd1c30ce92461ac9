"""The composition root: builds every part, owns every task, and tears down in reverse."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Awaitable, Callable, Sequence
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
from cases.minutes import Minutes
from cases.numbering import next_number
from cases.signing import MinutesSigner
from cases.triggers import TriggerGate
from cluster.fencing import still_owner
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
from fleet.retentionchanges import RetentionChanges
from fleet.statealerts import StateAlerts
from fleet.statushistory import StatusLog
from gateway.clusterwiring import join_cluster, start_cluster
from gateway.dutywiring import start_duties, start_input_triggers
from gateway.http.appkeys import CORS
from gateway.http.tls import server_context
from gateway.http.webapp import build_app
from gateway.migrations import upgrade
from gateway.services import Services
from gateway.workerslot import WorkerSlot
from onvif_adapters.ptz import PtzSessions
from gateway.rtspwiring import RtspRestreamLike, start_rtsp
from gateway.onvifwiring import OnvifPtzBridge, relay_camera_events, relay_state
from onvif_server.facade import OnvifServer
from onvif_adapters.source import resolver_for
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
from policy.identity.throttle import DeviceThrottle, LoginThrottle
from gateway.refusallog import RefusalLog
from policy.identity.useradmin import UserAdmin
from policy.identity.users import UserStore
from recorder.service import Recorder
from streams.camera import Camera
from streams.destination import DestinationGuard
from streams.openpace import OpenPace
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

    def __init__(self, settings: Settings, clock: Clock | None = None, migrate: bool = True,
                 worker: WorkerSlot | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.migrate = migrate
        #: Worker K of N behind one port (gateway/supervisor.py), or None: the only process.
        self.worker = worker
        self.port: int | None = None
        #: A worker's own port (its node URL), beside the shared one.
        self.private_port: int | None = None
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
            services, status_log = await assemble(settings, self.clock, stack, self.worker)
            for courier in services.couriers:
                await courier.prepare()
            await record_config(settings, services.access_log)
            await self._bootstrap_admin(services.users, services.access_log)
            self.services = services
            app = build_app(services)
            runner = web.AppRunner(app, handle_signals=False, access_log=None)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            worker = self.worker
            port = settings.server.port if worker is None else worker.public_port
            # Workers share the public port: the kernel spreads connections over them (SO_REUSEPORT).
            site = web.TCPSite(runner, settings.server.host, port, ssl_context=tls, reuse_port=worker is not None)
            await site.start()
            self.port = _bound_port(site)
            if worker is not None:
                private = web.TCPSite(runner, settings.server.host,
                                      worker.private_port(settings.server.worker_port_base), ssl_context=tls)
                await private.start()
                self.private_port = _bound_port(private)
            membership = await join_cluster(stack, services, self.port, worker, self.private_port, tls is not None)
            singletons = worker is None or worker.singletons
            log.info(
                "listening on %s://%s:%d with %d camera(s)%s",
                "https" if tls else "http", settings.server.host, self.port, len(services.cameras),
                f" (worker {worker.index} of {worker.count}, own port {self.private_port})" if worker else "",
            )
            # The access log's checkpointer outlives every other task, so whatever they
            # record while stopping is still covered by a final signed checkpoint.
            async with asyncio.TaskGroup() as outer:
                outer.create_task(services.access_log.run(), name="access-log")
                async with asyncio.TaskGroup() as tasks:
                    tasks.create_task(status_log.run(), name="status-log")
                    tasks.create_task(services.recorder.run(), name="recorder")
                    tasks.create_task(services.webrtc.run(), name="whep")
                    if singletons or membership is not None:
                        # One subscription per camera: several nodes (or workers) subscribe each to the
                        # cameras whose leases they hold (gateway/clusterwiring.py FleetIngest).
                        tasks.create_task(services.events.run(), name="events")
                        start_input_triggers(tasks, services)  # read those cameras' events
                    tasks.create_task(services.fleet.run(), name="cameras")
                    tasks.create_task(services.alerts.run(), name="alerts")
                    tasks.create_task(services.exports.run(), name="exports")
                    tasks.create_task(services.refusals.run(), name="refusals")
                    if membership is not None:
                        await start_cluster(tasks, services, membership, app[CORS].set_nodes)
                    tasks.create_task(services.triggers.run(), name="triggers")
                    if singletons:  # couriers, watches, MQTT triggers: once for the room (gateway/dutywiring.py)
                        await start_duties(tasks, services, membership)
                    if settings.restream.rtsp.enabled and singletons:
                        self.rtsp = await start_rtsp(tasks, services, self.clock)
                    if services.onvif_server is not None:
                        tasks.create_task(services.onvif_server.run(), name="onvif-events")
                        tasks.create_task(relay_camera_events(services.events, services.onvif_server),
                                          name="onvif-event-relay")
                        if settings.onvif_server.discovery:
                            # A worker's facade answers at its own port: the shared one may reach another worker.
                            discovery_port = self.private_port or self.port
                            tasks.create_task(services.onvif_server.discovery(discovery_port).run(),
                                              name="onvif-discovery")
                    if on_ready is not None:
                        on_ready(self)
                    if worker is not None:
                        worker.tell_ready()
                    await asyncio.Event().wait()  # until cancelled

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


async def assemble(
    settings: Settings, clock: Clock, stack: AsyncExitStack, worker: WorkerSlot | None = None,
) -> tuple[Services, StatusLog]:
    """Build every part and wire them together; resources close with `stack`. Nothing runs yet:
    the caller owns the tasks (`Gateway.run`), so tests can build the same parts without serving.
    A worker of several pulls only the cameras it records (gateway/workerslot.py)."""
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

    # One pace for every camera of this process: their connections start a few at a time.
    pace = OpenPace(settings.hub.opens_per_s, clock)
    # A camera added through the API passed the destination check there; where its source resolves is
    # checked again on every connect, so a name rebound since cannot lead elsewhere (DNS rebinding). The
    # config file's cameras are the administrator's own word, as before (a camera on a link-local
    # network, named by mDNS, is one).
    guard = DestinationGuard(settings.onboarding.networks(), settings.onboarding.resolve_timeout_s)
    from_file = {c.id for c in settings.cameras}

    def make_camera(cfg: CameraConfig) -> Camera:
        return Camera(
            cfg, settings.camera_health(cfg), settings.hub.subscriber_queue, clock, on_status,
            resolver=resolver_for(cfg, settings.onvif), sub_resolver=resolver_for(cfg, settings.onvif, "sub"),
            pace=pace, guard=None if cfg.id in from_file else guard,
        )

    # Several nodes (and workers): a camera's sources open only on the node holding its lease
    # (gateway/clusterwiring.py).
    fleet = CameraFleet(make_camera, [*settings.cameras, *onboarded], follows_leases=settings.cluster_enabled)
    cameras = fleet.cameras
    # Several nodes: each records only the cameras it holds a lease on, and a segment is indexed only
    # under its camera's current lease (cluster/keeper.py, cluster/fencing.py).
    recorder = Recorder(settings, db, clock, cameras, RecordingLog(access_log), alerts,
                        fence=still_owner if settings.cluster_enabled else None,
                        retention=worker is None or worker.singletons)
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
    events = EventService(settings.events, clock, cameras, onvif_clients, event_store, alerts, here=fleet.ingests)
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
                          public_key_text(log_key, access_log.origin), clock, recorder.reader, recorder.files)
    exports = export_jobs(db, clock, settings.data_dir, writer, recorder.holds, access_log,
                          settings.recording.max_exports, settings.recording.export_keep_h, known=cameras.__contains__,
                          stream_of=recorder.stream_of)
    exports.tidy_on_start = worker is None or worker.alone
    device_secrets = DeviceSecrets(db, await asyncio.to_thread(
        load_or_create_device_key, default_device_key_path(settings.data_dir)), clock)
    throttle = LoginThrottle(
        clock, auth.max_failures, auth.failure_window_s, auth.lockout_s,
        burst=settings.alerts.signin_burst, burst_window_s=settings.alerts.signin_burst_window_s, alerts=alerts,
    )
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
        throttle=throttle,
        refusals=RefusalLog(access_log, clock),
        device_throttle=DeviceThrottle(throttle, LoginThrottle(clock, auth.max_failures, auth.failure_window_s,
                                                               auth.lockout_s)),
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
        retention_changes=RetentionChanges(db, clock),
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
    if settings.onvif_server.enabled and (worker is None or worker.singletons):
        onvif_server = OnvifServer(settings, clock, cameras, access_log, device_secrets.password,
                                   services.device_throttle, services.refusals, OnvifPtzBridge(ptz), recorder.index)
        services.onvif_server = onvif_server
        status_listeners.append(lambda camera_id, old, new: relay_state(onvif_server, camera_id, old, new))
    return services, status_log


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
