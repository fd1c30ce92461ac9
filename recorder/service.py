"""The Recorder: recovery on start, one SegmentWriter per recorded camera, retention, status."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.alerting import Discard, Publisher
from core.clock import Clock
from core.config import Settings
from core.taskmap import TaskMap
from core.waiting import within
from recorder.reports import RecordingEvent, RecordingEventKind, RecordingEventSink, emit
from recorder.alerting import RecordingAlerts
from recorder.holds import HoldStore
from recorder.index import LeaseCheck, SegmentIndex
from recorder.models import Deletion, Segment
from recorder.objectcache import SegmentFiles
from recorder.objectstore import ObjectStore
from recorder.objectupload import ObjectUploader, UploadStatus, WakeOnSeal
from recorder.reader import SegmentReader
from recorder.recovery import describe_file, salvage
from recorder.retention import Retention
from recorder.segment import SealedSegment
from recorder.segmentfile import fsync_dir
from recorder.status import StorageState, StorageStatus, disk_free
from recorder.store import SegmentStore
from recorder.takeover import TakeoverReport, recover_camera
from recorder.thumbcache import ThumbnailCache
from recorder.thumbnails import Thumbnails
from recorder.writer import SegmentWriter
from streams.camera import Camera

log = logging.getLogger(__name__)

# While the disk is full, check this often whether recording can resume.
FULL_POLL_S = 1.0


@dataclass
class RecoveryReport:
    """What start-up recovery found."""

    recovered: list[SealedSegment] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    indexed_orphans: list[SealedSegment] = field(default_factory=list)
    finished_deletions: list[str] = field(default_factory=list)


class Recorder:
    """Owns recording for the composition root: construct, then `await run()` (safe to cancel)."""

    def __init__(
        self,
        settings: Settings,
        db: async_sessionmaker[AsyncSession],
        clock: Clock,
        cameras: dict[str, Camera],
        events: RecordingEventSink,
        alerts: Publisher | None = None,
        fence: LeaseCheck | None = None,
        retention: bool = True,
    ) -> None:
        self.settings = settings
        #: Whether this process applies retention: of worker processes sharing one storage
        #: (gateway/workerslot.py) one does, or two passes would race over the same segments.
        self.applies_retention = retention
        self.config = settings.recording
        #: Several nodes share the database: a camera is recorded only while this node holds its lease
        #: (cluster/keeper.py calls lease_acquired / lease_ended), and its segments are fenced.
        self.follows_leases = fence is not None
        #: By camera id: the lease epoch held, and the reason for the gap before its first segment
        #: (None: the usual one), used once.
        self._leases: dict[str, tuple[int, str | None]] = {}
        #: Cameras whose lease was acquired and whose files were not recovered under it yet: their
        #: writers start once that is done (recorder/takeover.py).
        self._unrecovered: set[str] = set()
        #: The last recovery at lease acquisition of each camera (following leases).
        self.takeovers: dict[str, TakeoverReport] = {}
        self.db = db
        self.clock = clock
        self.cameras = cameras
        #: Every report goes to `events` (the access log); those that matter to the room are alerts too.
        self.alerting = RecordingAlerts(
            events, alerts or Discard(), cameras, clock, self.config.segment_s, settings.alerts, settings.storage.path,
            self.records_here,
        )
        self.events: RecordingEventSink = self.alerting
        self.store = SegmentStore(settings.storage.path)
        self.index = SegmentIndex(db, clock, fence)
        self.state = StorageState(settings.storage.path)
        #: storage.object: sealed segments are uploaded under object lock, local files become a cache.
        object_cfg = settings.storage.object
        self.objects = ObjectStore(object_cfg) if object_cfg is not None else None
        self.files = SegmentFiles(db, self.store, self.objects, object_cfg.cache_bytes if object_cfg else 0)
        self.uploader: ObjectUploader | None = None
        if self.objects is not None:
            self.uploader = ObjectUploader(db, self.store, self.objects, self.files, clock, self._days_of)
            self.events = WakeOnSeal(self.alerting, self.uploader.wake)
        self.holds = HoldStore(db, clock, events, self.uploader.wake if self.uploader is not None else lambda: None)
        self.reader = SegmentReader(db, self.store, self.stream_of, self.files)
        #: Keyframe thumbnails for the recordings page, cached under data_dir (never beside the recordings).
        self.thumbnails = Thumbnails(self.index, self.store, ThumbnailCache(
            settings.data_dir / "thumbnails", settings.review.thumbnail_cache_mb * 1024 * 1024),
            fetch=self.files.fetch if self.objects is not None else None)
        camera_days = {c.id: c.config.retention_days for c in cameras.values() if c.config.retention_days is not None}
        self.retention = Retention(db, self.store, self.state, clock, self.config, camera_days, events,
                                   self.objects, self.files, shared_index=fence is not None)
        #: By camera id (its main stream) or "id/sub" (its sub-stream): see writer_key().
        self.writers: dict[str, SegmentWriter] = {}
        self._writing = TaskMap()
        self._changed: set[str] = set()  # stopped to be changed, not yet recording again
        self._kick = asyncio.Event()
        self._tasks: asyncio.TaskGroup | None = None
        self.recovery: RecoveryReport | None = None

    def _days_of(self, camera_id: str) -> float:
        return self.retention.days_of(camera_id)

    def upload_status(self) -> UploadStatus | None:
        """The object store uploader's figures (None without storage.object), for /health and /metrics."""
        return self.uploader.status() if self.uploader is not None else None

    def stream_of(self, camera_id: str) -> str:
        """The stream a camera's recordings are read from when a request names none: its main stream,
        unless it records only its sub-stream (record_streams: sub)."""
        camera = self.cameras.get(camera_id)
        return camera.config.listed_stream if camera is not None else "main"

    @property
    def storage_problem(self) -> str | None:
        """Set while recording is stopped because storage is full (for /readyz and /health)."""
        return self.state.full_problem

    def storage_status(self) -> StorageStatus:
        """Storage figures for /health and /metrics (cheap: one statvfs, no database)."""
        return self.state.snapshot()

    async def run(self) -> None:
        """Recover, then record every camera with `record: true` (following leases: those whose lease
        this node holds) and apply retention, until cancelled."""
        self.store.root.mkdir(parents=True, exist_ok=True)
        self.recovery = await self.recover()
        used, oldest = await self.index.usage()
        self.state.bytes_used, self.state.oldest = used, oldest
        async with contextlib.AsyncExitStack() as stack, asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            try:
                for camera in list(self.cameras.values()):
                    self._start_writer(camera)
                if self.objects is not None and self.uploader is not None:
                    # Opening builds the client only: a store that is away delays nothing here.
                    await stack.enter_async_context(self.objects)
                    tasks.create_task(self.uploader.run(), name="recorder:upload")
                tasks.create_task(self._retention_loop(), name="recorder:retention")
                tasks.create_task(self.alerting.run(), name="recorder:alerts")
                await asyncio.Event().wait()
            finally:
                self._tasks = None

    def camera_added(self, camera: Camera) -> None:
        """Record a camera added or changed while running (it is in `cameras` already)."""
        self.retention.set_camera_days(camera.id, camera.config.retention_days)
        if self._tasks is not None:
            self._start_writer(camera)

    async def camera_removed(self, camera: Camera) -> None:
        """Stop recording a camera that is about to be stopped: its open segments are sealed and
        indexed before this returns, so nothing recorded is lost when the camera changes."""
        await self._stop_writers(camera.id)
        self._changed.add(camera.id)  # the gap until it records again says why

    def recorded_cameras(self) -> list[str]:
        """The cameras configured here to be recorded (enabled, `record: true`), by id."""
        return sorted(c.id for c in self.cameras.values() if c.config.record and c.config.enabled)

    def records_here(self, camera_id: str) -> bool:
        """Whether this node is the one to record `camera_id` (always, unless following leases)."""
        return not self.follows_leases or camera_id in self._leases

    def lease_acquired(self, camera_id: str, epoch: int, because: str | None = None) -> None:
        """This node holds `camera_id`'s lease under `epoch`: record it (now, or once `run()` starts).
        `because` names the gap before its first segment (a failover); None: the usual reason."""
        self._leases[camera_id] = (epoch, because)
        self._unrecovered.add(camera_id)
        camera = self.cameras.get(camera_id)
        if camera is not None and self._tasks is not None:
            self._start_writer(camera)

    async def lease_ended(self, camera_id: str, lost: bool = False) -> None:
        """This node no longer records `camera_id` (its lease was `lost`, or is about to be released):
        the writers stop, their open segments are sealed and offered to the index before this
        returns (under a lost lease with one try: what the index refuses is quarantined, what it cannot
        take because the database is away is left for the camera's next owner)."""
        self._leases.pop(camera_id, None)
        if lost:
            for writer in self.writers.values():
                if writer.camera_id == camera_id:
                    writer.lease_lost()
        self._unrecovered.discard(camera_id)
        await self._writing.stop(recovery_key(camera_id))
        await self._stop_writers(camera_id)

    async def _recover_then_record(self, camera_id: str, epoch: int) -> None:
        """Recover `camera_id`'s files under the lease just acquired, then start its writers (unless
        the lease ended meanwhile). A failed recovery is logged and recording starts anyway: the
        files stay where they are for the camera's next owner."""
        try:
            self.takeovers[camera_id] = await recover_camera(
                camera_id, epoch, self.store, self.index, self.db, self.state, self.events)
        except Exception:
            log.exception("camera %s: recovery at lease acquisition failed", camera_id, extra={"camera": camera_id})
        held = self._leases.get(camera_id)
        if held is None or held[0] != epoch:
            return
        self._unrecovered.discard(camera_id)
        camera = self.cameras.get(camera_id)
        if camera is not None and self._tasks is not None:
            self._start_writer(camera)

    async def _stop_writers(self, camera_id: str) -> None:
        for key in [k for k, w in self.writers.items() if w.camera_id == camera_id]:
            await self._writing.stop(key)
            self.writers.pop(key, None)
        self.state.recording_cameras = len({w.camera_id for w in self.writers.values()})

    def _start_writer(self, camera: Camera) -> None:
        """One writer per recorded stream (config record_streams), each with its own chain and gaps;
        following leases, only for a camera whose lease this node holds."""
        if not (camera.config.record and camera.config.enabled):
            return
        assert self._tasks is not None
        epoch: int | None = None
        because = "camera changed" if camera.id in self._changed else "recorder was not running"
        if self.follows_leases:
            if camera.id not in self._leases:
                return
            epoch, lease_because = self._leases[camera.id]
            if camera.id in self._unrecovered:
                # Its files first (a previous owner's partials), then the writers: see _recover_then_record.
                key = recovery_key(camera.id)
                if key not in self._writing:
                    self._writing.start(self._tasks, key, self._recover_then_record(camera.id, epoch),
                                        f"recorder:{key}")
                return
            if lease_because is not None:
                because = lease_because
                self._leases[camera.id] = (epoch, None)
        for stream in camera.config.recorded_streams:
            feed = camera.feed(stream)
            key = writer_key(camera.id, stream)
            if feed is None or key in self.writers:
                continue
            writer = SegmentWriter(
                camera.id, feed.hub, self.store, self.index, self.state, self.events, self.clock,
                self.config.segment_s, self._kick, because, stream, epoch,
            )
            self.writers[key] = writer
            self._writing.start(self._tasks, key, writer.run(), f"recorder:{key}")
        self._changed.discard(camera.id)
        self.state.recording_cameras = len({w.camera_id for w in self.writers.values()})

    async def _retention_loop(self) -> None:
        while True:
            try:
                if self.applies_retention:
                    await self.retention.run_once()
            except Exception:
                log.exception("retention failed; retrying at the next interval")
            if self.state.full:
                await self._check_resume()
                timeout = FULL_POLL_S
            else:
                timeout = self.config.retention_interval_s
            self._kick.clear()
            await within(self._kick.wait(), timeout)

    async def _check_resume(self) -> None:
        try:
            free, _ = await asyncio.to_thread(disk_free, self.store.root)
        except OSError:
            return
        if free >= self.state.resume_bytes():
            problem = self.state.full_problem
            self.state.clear()
            await emit(self.events, RecordingEvent(
                RecordingEventKind.STORAGE_RESUMED, None, reason=f"{free} bytes free after: {problem}"))

    # ---- crash recovery ---------------------------------------------------------------------
    async def recover(self) -> RecoveryReport:
        """Seal or quarantine unsealed files; index sealed files the index lacks; finish deletions.
        Following leases, nothing here: other nodes may be writing under the same storage.path, so
        each camera is recovered when its lease is acquired (recorder/takeover.py)."""
        report = RecoveryReport()
        if self.follows_leases:
            return report
        for partial in await asyncio.to_thread(lambda: list(self.store.partials())):
            sealed = await asyncio.to_thread(salvage, self.store, partial)
            if sealed is None:
                report.quarantined.append(partial.name)
                await emit(self.events, RecordingEvent(
                    RecordingEventKind.SEGMENT_QUARANTINED, partial.name.split("_", 1)[0],
                    reason="unsealed file not playable after a crash", details={"file": partial.name}))
                continue
            await self.index.add(sealed)
            report.recovered.append(sealed)
            self.state.note_sealed(sealed.camera_id, sealed.start, sealed.bytes, 0.0, True)
            await emit(self.events, RecordingEvent(
                RecordingEventKind.SEGMENT_RECOVERED, sealed.camera_id, sealed.start, sealed.end, sealed.sha256,
                details={"bytes": sealed.bytes, "path": sealed.path}))
        async with self.db() as session:
            known = set((await session.scalars(select(Segment.path))).all())
            deleted = set((await session.scalars(select(Deletion.sha256))).all())
        finals = await asyncio.to_thread(lambda: list(self.store.finals()))
        for path in finals:
            if self.store.relative(path) in known:
                continue
            found = await asyncio.to_thread(describe_file, self.store, path)
            if found is None:
                log.error("sealed file %s is unreadable and not indexed; left in place", path)
                continue
            if found.sha256 in deleted:
                # Retention recorded the deletion and died before the unlink.
                await asyncio.to_thread(_unlink, path)
                report.finished_deletions.append(found.path)
                continue
            await asyncio.to_thread(_make_read_only, path)
            await self.index.add(found)
            report.indexed_orphans.append(found)
            log.warning("indexed sealed segment %s that the index did not know", found.path)
        return report


def writer_key(camera: str, stream: str) -> str:
    """`Recorder.writers` key: the camera id for its main stream, "id/sub" for its sub-stream."""
    return camera if stream == "main" else f"{camera}/{stream}"


def recovery_key(camera: str) -> str:
    """The `Recorder._writing` key of a camera's recovery at lease acquisition."""
    return f"{camera}#recovery"


def _unlink(path: os.PathLike[str]) -> None:
    os.unlink(path)
    fsync_dir(Path(path).parent)


def _make_read_only(path: os.PathLike[str]) -> None:
    mode = os.stat(path).st_mode
    if mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        os.chmod(path, 0o400)
