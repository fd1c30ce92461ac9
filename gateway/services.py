"""What the composition root hands to the HTTP layer: one typed bundle, no globals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.clock import Clock
from core.config import Settings
from policy.audit.accesslog import AccessLog
from policy.dispositions.workflow import DispositionService
from policy.identity.sessions import SessionStore
from policy.identity.throttle import LoginThrottle
from policy.identity.users import UserStore
from onvif_adapters.ptz import PtzSessions
from recorder.service import Recorder
from fleet.camerastore import CameraStore
from camera_events.service import EventService
from fleet.camerafleet import CameraFleet
from webrtc.sessions import WhepSessions
from streams.camera import Camera


@dataclass
class Services:
    """Everything a route may use, built once by `gateway.app.Gateway`."""

    settings: Settings
    clock: Clock
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    users: UserStore
    sessions: SessionStore
    throttle: LoginThrottle
    cameras: dict[str, Camera]
    started_at: datetime
    #: The signed, hash-chained access log every access and change is recorded in.
    access_log: AccessLog
    #: Recording, holds, storage figures; None only in tests that build the app alone.
    recorder: Recorder | None = None
    #: The disposition workflow (playback requests, approvals, tokens); None until wired.
    dispositions: DispositionService | None = None
    #: WHEP live sessions (peer connections); None only in tests that build the app alone.
    webrtc: WhepSessions | None = None
    #: Runs the cameras and adds one while running; None only in tests that build the app alone.
    fleet: CameraFleet | None = None
    #: Cameras onboarded through the API (kept in the database).
    camera_store: CameraStore | None = None
    #: ONVIF camera events (subscriptions, recent buffer, live streams); None only in tests that build the app alone.
    events: EventService | None = None
    #: Open ONVIF PTZ connections per camera; None only in tests that build the app alone.
    ptz: PtzSessions | None = None

    @property
    def configured_cameras(self) -> frozenset[str]:
        """Ids of the config file's cameras (the others were added through the API)."""
        return frozenset(c.id for c in self.settings.cameras)
