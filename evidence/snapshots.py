"""Snapshots: a JPEG the server takes of a camera, from the live stream (the hub's cached GOP
decoded forward to its newest frame) or from a recording (the keyframe at or before the asked
moment decoded forward to the frame shown then). Kept read-only under data_dir/snapshots, its
SHA-256 logged before the row is stored; attachable to a case once. Who may take or view one is the
caller's decision (live: `live`; recorded: `playback` of that moment)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.errors import BadRequest, Conflict, NotFound
from core.utctime import format_utc, from_epoch
from evidence.models import Snapshot, SnapshotSource
from policy.audit.entries import AccessAction, AccessEvent
from policy.audit.records import Actor, SequencedLog
from recorder.reader import GapMarker, SegmentOpened, SegmentReader
from streams.hub import StreamHub
from streams.packet import MediaPacket, StreamInfo
from streams.snapshot import encode_jpeg
from streams.stillframe import StillFrame, still_frame

JPEG_QUALITY = 90
# The recorded frame shown at `at` is the newest one at or before it; a frame this much later still
# counts (a moment asked to the microsecond lands between two frames' stamps).
FRAME_SLACK = timedelta(milliseconds=1)
# The newest recorded frame at or before `at` must be this recent, else the moment is in a gap.
MAX_FRAME_AGE = timedelta(seconds=2)


def snapshot_view(row: Snapshot) -> dict[str, Any]:
    """A snapshot's record as the API shows it."""
    return {
        "id": row.id, "camera": row.camera_id, "at": format_utc(row.at), "source": row.source,
        "taken_by": row.taken_by, "taken_at": format_utc(row.taken_at), "sha256": row.sha256, "bytes": row.bytes,
        "case_id": row.case_id,
    }


def _jpeg(frame: StillFrame | None) -> tuple[bytes, float] | None:
    if frame is None:
        return None
    jpeg = encode_jpeg(frame.image, JPEG_QUALITY)
    return None if jpeg is None else (jpeg, frame.wallclock)


def _decode(info: StreamInfo, packets: Sequence[MediaPacket], until: float | None) -> tuple[bytes, float] | None:
    return _jpeg(still_frame(info, packets, until))


def _write_read_only(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    path.chmod(0o400)


async def live_jpeg(hub: StreamHub) -> tuple[bytes, datetime] | None:
    """The camera's newest frame as JPEG and the time it arrived; None while it has no picture."""
    gop = hub.cached_gop()
    info = next((s for s in hub.streams if s.kind == "video"), None)
    if not gop or info is None:
        return None
    got = await asyncio.to_thread(_decode, info, gop, None)
    return None if got is None else (got[0], from_epoch(got[1]))


async def recorded_jpeg(reader: SegmentReader, camera: str, at: datetime) -> tuple[bytes, datetime]:
    """The recorded frame shown at `at` as JPEG, and its time; Unavailable when `at` is not recorded."""
    info: StreamInfo | None = None
    packets: list[MediaPacket] = []
    async for item in reader.read(camera, at, at + FRAME_SLACK):
        if isinstance(item, SegmentOpened):
            # The moment lies in one segment; a second one would start at a new keyframe.
            if info is not None:
                break
            info = next((s for s in item.streams if s.kind == "video"), None)
        elif isinstance(item, GapMarker):
            continue
        elif info is not None and item.stream == info.index:
            packets.append(item)
    if info is None or not packets:
        raise NotFound(f"camera {camera!r} has no recording at {format_utc(at)}")
    got = await asyncio.to_thread(_decode, info, packets, (at + FRAME_SLACK).timestamp())
    if got is None or at - from_epoch(got[1]) > MAX_FRAME_AGE:
        raise NotFound(f"camera {camera!r} has no recorded picture at {format_utc(at)}")
    return got[0], from_epoch(got[1])


class Snapshots:
    """Stores, lists and reads snapshots."""

    def __init__(self, db: async_sessionmaker[AsyncSession], clock: Clock, log: SequencedLog, folder: Path) -> None:
        self._db = db
        self._clock = clock
        self._log = log
        self.folder = folder

    async def keep(self, who: Actor, camera: str, jpeg: bytes, at: datetime, source: SnapshotSource,
                   case_id: str | None = None) -> Snapshot:
        """Write the JPEG read-only, log its hash, then store its row."""
        now = self._clock.now()
        snapshot_id = f"snap-{uuid.uuid4().hex[:16]}"
        relative = f"{camera}/{now:%Y-%m-%d}/{snapshot_id}.jpg"
        await asyncio.to_thread(_write_read_only, self.folder / relative, jpeg)
        digest = hashlib.sha256(jpeg).hexdigest()
        row = Snapshot(id=snapshot_id, camera_id=camera, at=at, source=source.value, taken_by=who.user, taken_at=now,
                       sha256=digest, bytes=len(jpeg), path=relative, case_id=case_id)
        await self._log.append(AccessEvent(
            AccessAction.SNAPSHOT_TAKEN, actor=who.user, role=who.role, client=who.client, camera=camera, start=at,
            details={"id": snapshot_id, "source": source.value, "sha256": digest, "bytes": len(jpeg),
                     "case_id": case_id},
        ))
        async with self._db() as session:
            session.add(row)
            await session.commit()
        return row

    async def get(self, snapshot_id: str) -> Snapshot:
        """One snapshot's row; NotFound when there is none."""
        async with self._db() as session:
            row = await session.get(Snapshot, snapshot_id)
        if row is None:
            raise NotFound(f"no snapshot {snapshot_id!r}")
        return row

    async def read(self, row: Snapshot) -> bytes:
        """The stored JPEG, checked against its hash."""
        data = await asyncio.to_thread((self.folder / row.path).read_bytes)
        if hashlib.sha256(data).hexdigest() != row.sha256:
            raise Conflict(f"snapshot {row.id}: the stored file no longer matches its SHA-256")
        return data

    async def list(self, camera: str | None, case_id: str | None, limit: int = 500) -> list[Snapshot]:
        """Snapshots, newest first, of a camera and/or a case."""
        query = select(Snapshot)
        if camera is not None:
            query = query.where(Snapshot.camera_id == camera)
        if case_id is not None:
            query = query.where(Snapshot.case_id == case_id)
        async with self._db() as session:
            return list((await session.scalars(query.order_by(Snapshot.taken_at.desc()).limit(limit))).all())

    @staticmethod
    async def mark_attached(session: AsyncSession, snapshot_id: str, case_id: str) -> None:
        """In the caller's transaction: the snapshot now belongs to `case_id` (once)."""
        row = await session.get(Snapshot, snapshot_id, with_for_update=True)
        if row is None:
            raise NotFound(f"no snapshot {snapshot_id!r}")
        if row.case_id is not None:
            if row.case_id == case_id:
                raise Conflict(f"snapshot {snapshot_id} is already attached to case {case_id}")
            raise Conflict(f"snapshot {snapshot_id} belongs to case {row.case_id}")
        row.case_id = case_id


def check_moment(at: datetime, now: datetime) -> None:
    """A recorded snapshot's moment must be in the past."""
    if at > now:
        raise BadRequest("at: the moment is in the future")
