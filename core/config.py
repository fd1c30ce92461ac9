"""Typed configuration models shared by every package; loaded once by `core.configfile`. The
`access:` rules live in core/accessconfig.py (re-exported here), the rooms' sections beside it."""

from __future__ import annotations

import re
from pathlib import Path
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from core.accessconfig import ROLES as ROLES
from core.accessconfig import AccessConfig as AccessConfig
from core.accessconfig import DispositionRules as DispositionRules
from core.accessconfig import HoldRules as HoldRules
from core.accessconfig import ReplayRule as ReplayRule
from core.accessconfig import Role as Role
from core.alertsconfig import AlertsConfig
from core.configbase import BackoffConfig, Strict
from core.onvifconfig import EventsConfig as EventsConfig
from core.onboardingconfig import OnboardingConfig
from core.onvifconfig import OnvifConfig as OnvifConfig
from core.recordingconfig import HubConfig as HubConfig
from core.recordingconfig import RecordingConfig as RecordingConfig
from core.recordingconfig import ReviewConfig as ReviewConfig
from core.recordingconfig import below_floor as below_floor
from core.casesconfig import CasesConfig
from core.clusterconfig import ClusterConfig
from core.deskconfig import DeskConfig
from core.redact import redact_url
from core.integrationconfig import OnvifServerConfig, RestreamConfig
from core.objectstoreconfig import ObjectStorageConfig as ObjectStorageConfig
from core.serverconfig import ServerConfig as ServerConfig
from core.webrtcconfig import WebRtcConfig
from core.schemes import check_camera_url

CAMERA_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


class DatabaseConfig(Strict):
    url: str | None = Field(
        None,
        description="SQLAlchemy async URL; default: SQLite file pantau.db in data_dir.",
    )
    echo: bool = Field(False, description="Log every SQL statement (debugging only).")
    migrate_on_start: bool = Field(
        True,
        description="`pantau serve` upgrades the schema first; false when the gateway runs as a role "
        "that may not (e.g. pantau_app) and the owner runs `pantau migrate`.",
    )

    @field_validator("url")
    @classmethod
    def _driver(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not (v.startswith("sqlite+aiosqlite://") or v.startswith("postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return v


class StorageConfig(Strict):
    path: Path = Field(Path("data/recordings"), description="Directory for recordings.")
    object: ObjectStorageConfig | None = Field(
        None, description="S3-compatible object storage with object lock; unset: recordings stay on storage.path only.")


class HealthConfig(Strict):
    """Thresholds for the keyframe image checks."""

    sample_interval_s: float = Field(
        5.0, ge=0.5, le=3600, description="Decode at most one keyframe per camera this often."
    )
    # A motionless scene also reads as "frozen" (the check ignores sensor noise), so the
    # default asks for a minute without change at the default interval.
    frozen_samples: int = Field(
        12, ge=2, le=1000, description="Consecutive unchanged samples that mean a frozen picture."
    )
    frozen_max_diff: float = Field(
        0.5, ge=0, le=255, description="Mean absolute pixel difference below which samples are identical."
    )
    black_max_luma: float = Field(16.0, ge=0, le=255, description="Mean luma below this is black.")
    blank_max_stddev: float = Field(
        4.0, ge=0, le=128, description="Luma standard deviation below this is a blank picture."
    )
    blur_min_laplacian: float = Field(
        15.0, ge=0, description="Variance of the Laplacian below this is heavy blur."
    )
    scene_change_min: float = Field(
        0.6, ge=0, le=1, description="1 - correlation with the reference above this is a moved or covered camera."
    )
    # Not the first samples: a camera just (re)connected may still be adjusting exposure.
    reference_after_samples: int = Field(
        6, ge=1, le=1000, description="Healthy sample number that becomes the scene reference."
    )


class CameraConfig(Strict):
    id: str = Field(description="[a-z0-9-], unique; used in URLs.")
    name: str = Field("", description="Human name shown on the wall.")
    source: str = Field(
        description="rtsp://, rtsps:// or onvif://user:pass@host:port/?profile=main|sub|TOKEN URL."
    )
    transport: Literal["tcp", "udp"] = Field("tcp", description="RTSP lower transport.")
    tls_verify: bool = Field(
        True,
        description="Check an rtsps:// camera's certificate (its chain to tls_ca_file or the system's CAs); "
        "false accepts any certificate, which lets whoever sits in between read and alter the video (logged at start).",
    )
    tls_ca_file: Path | None = Field(
        None, description="PEM file of the CA (or the camera's own self-signed certificate) an rtsps:// camera's "
        "certificate must chain to; unset: the system's CAs.",
    )
    enabled: bool = Field(True, description="Pull this camera.")
    record: bool = Field(True, description="Record this camera continuously.")
    groups: list[str] = Field(default_factory=list, description="Camera groups for visibility rules.")
    open_timeout_s: float = Field(10.0, gt=0, le=120, description="Timeout to open the stream.")
    read_timeout_s: float = Field(5.0, gt=0, le=120, description="Timeout of one read.")
    stall_timeout_s: float = Field(
        5.0, gt=0, le=600, description="No packet for this long declares the camera stalled."
    )
    backoff: BackoffConfig = Field(default_factory=BackoffConfig)
    health: HealthConfig | None = Field(None, description="Per-camera override of health thresholds.")
    retention_days: float | None = Field(
        None, gt=0, le=3650, description="Keep this camera's recordings this long (default: recording.retention_days)."
    )
    substream: str | None = Field(
        None,
        description="The camera's second, smaller stream (rtsp://, rtsps:// or onvif://...?profile=sub): "
        "the wall's grid shows it, full screen shows `source`.",
    )
    record_streams: Literal["main", "sub", "both"] = Field(
        "main", description="Which stream is recorded (sub and both need `substream`)."
    )
    audio: bool = Field(
        True,
        description="Record and serve this camera's sound; false drops it at ingest (where the law "
        "restricts recording sound). Who hears it is access.live_audio and access.*.audio.",
    )
    transcode: bool = Field(
        False,
        description="Let the wall transcode this camera's video to H.264 when it has no stream a "
        "browser can play (H.265 without an H.264 sub-stream); at most webrtc.max_transcodes at once.",
    )

    @model_validator(mode="after")
    def _streams(self) -> CameraConfig:
        if self.record_streams != "main" and self.substream is None:
            raise ValueError(f"record_streams: {self.record_streams} needs a substream")
        return self

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not CAMERA_ID.fullmatch(v):
            raise ValueError("must be 1-64 of [a-z0-9-], not starting or ending with '-'")
        return v

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        check_camera_url(v)
        return v

    @field_validator("substream")
    @classmethod
    def _substream(cls, v: str | None) -> str | None:
        if v is not None:
            check_camera_url(v)
        return v

    @property
    def display_source(self) -> str:
        """The source URL with credentials removed."""
        return redact_url(self.source)

    @property
    def recorded_streams(self) -> tuple[str, ...]:
        """The streams the recorder writes ("main", "sub", or both), each with its own chain and gaps."""
        return {"main": ("main",), "sub": ("sub",), "both": ("main", "sub")}[self.record_streams]

    @property
    def listed_stream(self) -> str:
        """The stream recordings are listed, played and downloaded from unless a request names one:
        the main stream, unless only the sub-stream is recorded."""
        return "sub" if self.record_streams == "sub" else "main"

    @property
    def display_substream(self) -> str | None:
        """The sub-stream URL with credentials removed."""
        return redact_url(self.substream) if self.substream is not None else None

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for key, value in super().__repr_args__():
            yield key, (redact_url(value) if key in ("source", "substream") and value is not None else value)


class AuthConfig(Strict):
    session_ttl_s: int = Field(8 * 3600, ge=60, le=7 * 86400, description="Bearer token lifetime.")
    max_failures: int = Field(
        5, ge=1, le=1000, description="Failed sign-ins per user and address before a lockout."
    )
    failure_window_s: float = Field(300.0, gt=0, description="Window in which failures count.")
    lockout_s: float = Field(300.0, gt=0, description="How long a lockout lasts.")


class AccessLogConfig(Strict):
    """The hash-chained, signed access log (owned by policy/)."""

    key_path: Path | None = Field(
        None, description="Ed25519 signing key (PEM); default data_dir/keys/access-log.pem, created on first start."
    )
    origin: str | None = Field(
        None, min_length=1, max_length=255,
        description="Checkpoint origin line (C2SP tlog-checkpoint), which names the log. Default: made once per "
                    "installation, HOST/pantau/access-log/KEYID, kept beside the key.",
    )

    @field_validator("origin")
    @classmethod
    def _origin(cls, v: str | None) -> str | None:
        if v is not None and (not v.isascii() or not v.isprintable() or " " in v or "+" in v):
            raise ValueError("must be printable ASCII without spaces or '+' (a C2SP checkpoint origin)")
        return v
    checkpoint_interval_s: float = Field(
        1.0, gt=0, le=60, description="A signed checkpoint covers every append within this time."
    )
    witness_file: Path | None = Field(
        None, description="Append-only file on another mount where every checkpoint is also written."
    )
    witness_url: str | None = Field(None, description="HTTP URL every checkpoint is POSTed to.")


class LoggingConfig(Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class Settings(Strict):
    """The whole configuration: YAML file plus PANTAU_SECTION__KEY overrides."""

    data_dir: Path = Field(Path("data"), description="Keys, the default database, demo files.")
    server: ServerConfig = Field(default_factory=ServerConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    access: AccessConfig = Field(default_factory=AccessConfig)
    hub: HubConfig = Field(default_factory=HubConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    recording: RecordingConfig = Field(default_factory=RecordingConfig)
    access_log: AccessLogConfig = Field(default_factory=AccessLogConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    onvif: OnvifConfig = Field(default_factory=OnvifConfig)
    events: EventsConfig = Field(default_factory=EventsConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    desk: DeskConfig = Field(default_factory=DeskConfig)
    cases: CasesConfig = Field(default_factory=CasesConfig)
    webrtc: WebRtcConfig = Field(default_factory=WebRtcConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    restream: RestreamConfig = Field(default_factory=RestreamConfig)
    onvif_server: OnvifServerConfig = Field(default_factory=OnvifServerConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    onboarding: OnboardingConfig = Field(default_factory=OnboardingConfig)
    cameras: list[CameraConfig] = Field(default_factory=list)

    @field_validator("cameras")
    @classmethod
    def _unique_ids(cls, cameras: list[CameraConfig]) -> list[CameraConfig]:
        seen: dict[str, int] = {}
        for index, cam in enumerate(cameras):
            if cam.id in seen:
                raise ValueError(f"camera id {cam.id!r} is used twice (entries {seen[cam.id]} and {index})")
            seen[cam.id] = index
        return cameras

    @field_validator("cluster")
    @classmethod
    def _cluster_needs_postgresql(cls, v: ClusterConfig, info: ValidationInfo) -> ClusterConfig:
        database = info.data.get("database")
        if v.enabled and isinstance(database, DatabaseConfig) and not _is_postgresql(database.url):
            raise ValueError(
                "cluster.enabled is true, but the database is SQLite, which serves one process: several "
                "nodes need PostgreSQL (database.url: postgresql+asyncpg://...); remove cluster.enabled "
                "or set it to false"
            )
        return v

    @property
    def cluster_enabled(self) -> bool:
        """Whether this process is a node of a cluster: `cluster.enabled`, by default true on PostgreSQL."""
        if self.cluster.enabled is not None:
            return self.cluster.enabled
        return _is_postgresql(self.database.url)

    def workers_problem(self, workers: int | str | None = None) -> str | None:
        """Why `workers` (default: server.workers) cannot run with this config; None when it can."""
        wanted = self.server.workers if workers is None else workers
        if wanted == "auto" or wanted == 1:
            return None
        if not _is_postgresql(self.database.url):
            return (f"{wanted} workers need PostgreSQL (database.url: postgresql+asyncpg://...): SQLite serves "
                    "one process; set server.workers to 1 or \"auto\"")
        if not self.cluster_enabled:
            return (f"{wanted} workers share cameras through camera leases, but cluster.enabled is false; "
                    "set server.workers to 1 or enable cluster")
        return None

    def worker_count(self, cpus: int, workers: int | str | None = None) -> int:
        """Worker processes to run: `workers` (default: server.workers), "auto" being `cpus` on
        PostgreSQL with cluster on and 1 otherwise."""
        wanted = self.server.workers if workers is None else workers
        if wanted != "auto":
            return int(wanted)
        return max(1, cpus) if _is_postgresql(self.database.url) and self.cluster_enabled else 1

    @property
    def database_url(self) -> str:
        """The configured URL, or the embedded SQLite default under data_dir."""
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'pantau.db').as_posix()}"

    def camera_health(self, camera: CameraConfig) -> HealthConfig:
        """Thresholds in force for one camera."""
        return camera.health or self.health

    def retention_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Every retention shorter than `recording.min_retention_days`, as (key path, message)."""
        floor = self.recording.min_retention_days
        found: list[tuple[tuple[str | int, ...], str]] = []
        if self.recording.retention_days < floor:
            found.append((("recording", "retention_days"), below_floor(self.recording.retention_days, floor)))
        for index, camera in enumerate(self.cameras):
            if camera.retention_days is not None and camera.retention_days < floor:
                found.append((("cameras", index, "retention_days"), below_floor(camera.retention_days, floor)))
        locked = self.storage.object.retention_days if self.storage.object is not None else None
        if locked is not None and locked < floor:
            found.append((("storage", "object", "retention_days"), below_floor(locked, floor)))
        return found


def _is_postgresql(url: str | None) -> bool:
    return url is not None and url.startswith("postgresql")
