"""What the composition root hands to the HTTP layer: one typed bundle, no globals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from alerts.bus import AlertBus
from alerts.delivery import Courier
from camera_events.service import EventService
from cases.book import CaseBook
from cases.triggers import TriggerGate
from cluster.duty import DutyHolder
from cluster.reach import DatabaseReach
from cluster.owners import CameraOwners
from core.clock import Clock
from core.config import Settings
from desk.service import Desk
from evidence.bookmarks import Bookmarks
from evidence.exportjobs import ExportJobs
from evidence.snapshots import Snapshots
from fleet.camerafleet import CameraFleet
from fleet.camerastore import CameraStore
from fleet.retentionchanges import RetentionChanges
from gateway.refusallog import RefusalLog
from onvif_adapters.ptz import PtzSessions
from onvif_server.facade import OnvifServer
from policy.identity.devicesecrets import DeviceSecrets
from policy.audit.accesslog import AccessLog
from policy.dispositions.workflow import DispositionService
from policy.identity.displays import DisplayStore
from policy.identity.links import LinkSigner
from policy.identity.linkuses import LinkUses
from policy.identity.sessions import SessionStore
from policy.identity.throttle import DeviceThrottle, LoginThrottle
from policy.identity.useradmin import UserAdmin
from policy.identity.users import UserStore
from recorder.service import Recorder
from streams.camera import Camera
from webrtc.sessions import WhepSessions


@dataclass
class Services:
    """Everything a route may use, built once by `gateway.app.assemble` (tests: `tests/servicesbuilder.py`)."""

    settings: Settings
    clock: Clock
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    users: UserStore
    #: Account administration: list, disable and enable, role, a new password.
    user_admin: UserAdmin
    #: Integrator accounts' sealed passwords, for RTSP Digest and ONVIF WS-UsernameToken.
    device_secrets: DeviceSecrets
    sessions: SessionStore
    #: Enrolled wall displays: device tokens with the viewer role that outlive a person's sign-in.
    displays: DisplayStore
    throttle: LoginThrottle
    #: RTSP's and ONVIF's: `throttle` per user and address, and one per address besides.
    device_throttle: DeviceThrottle
    #: Refused bearer tokens and throttled sign-ins, logged at most once a minute per caller.
    refusals: RefusalLog
    cameras: dict[str, Camera]
    started_at: datetime
    #: The signed, hash-chained access log every access and change is recorded in.
    access_log: AccessLog
    #: Recording, holds, storage figures, the playback reader.
    recorder: Recorder
    #: The disposition workflow (playback requests, approvals, tokens).
    dispositions: DispositionService
    #: WHEP sessions, live and playback (peer connections).
    webrtc: WhepSessions
    #: Runs the cameras and adds or changes one while running.
    fleet: CameraFleet
    #: Cameras onboarded through the API (kept in the database).
    camera_store: CameraStore
    #: Shortenings of onboarded cameras' retention waiting for (or given) a second person's verdict.
    retention_changes: RetentionChanges
    #: ONVIF camera events (subscriptions, recent buffer, live streams).
    events: EventService
    #: Open ONVIF PTZ connections per camera.
    ptz: PtzSessions
    #: The alert bus every part publishes to, its outbox and live listeners (SSE).
    alerts: AlertBus
    #: One per configured alert sink (webhooks, MQTT): delivery cursors, counts, lag.
    couriers: list[Courier]
    #: The shift desk: shifts, checks, patrols, handovers, their printed reports.
    desk: Desk
    #: Incidents, complaints and emergencies, and their berita acara.
    cases: CaseBook
    #: The gate every emergency trigger passes (HTTP, MQTT, camera inputs) on its way to `cases`.
    triggers: TriggerGate
    #: Evidence export jobs: their rows, live progress, the runner and the results kept for download.
    exports: ExportJobs
    #: Signs and verifies short-lived links (URLs for players that send no header).
    links: LinkSigner
    #: One-time links already used.
    link_uses: LinkUses
    #: Bookmarks on recordings (insert-only, hashed, logged).
    bookmarks: Bookmarks
    #: JPEGs taken by the server (live or recorded), kept with their SHA-256.
    snapshots: Snapshots
    #: The ONVIF device facade (`onvif_server.enabled`), else None.
    onvif_server: OnvifServer | None = None
    #: Several nodes: whether this node's lease keeper reaches the database (/health `cluster:database`).
    cluster_reach: DatabaseReach | None = None
    #: Several nodes: this node's id once registered, and who ingests each camera (read every renew_s).
    node_id: str | None = None
    owners: CameraOwners | None = None
    #: Several nodes, a node's first worker: its part in the cluster duty (gateway/dutywiring.py).
    duty: DutyHolder | None = None

    @property
    def configured_cameras(self) -> frozenset[str]:
        """Ids of the config file's cameras (the others were added through the API)."""
        return frozenset(c.id for c in self.settings.cameras)
