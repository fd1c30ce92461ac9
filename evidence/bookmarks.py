"""Bookmarks: a moment or a range of a camera's recordings marked with a note. Each is a record the
SOP keeps: canonical JSON, its SHA-256 in the access log, then an insert-only row (no route edits or
deletes one, and the database refuses it too). The caller decides who may place one (R19)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.errors import BadRequest
from core.utctime import format_utc
from policy.audit.entries import AccessAction
from policy.audit.records import Actor, RecordWriter
from recorder.models import Bookmark

NOTE_MAX_CHARS = 2000
# A bookmark's range is a stretch an operator marks while reviewing, not an export: a day at most.
MAX_RANGE_H = 24
MAX_LISTED = 1000


def bookmark_view(row: Bookmark) -> dict[str, Any]:
    """A bookmark as the API and the handover show it."""
    return {
        "id": row.id, "camera": row.camera_id, "start": format_utc(row.start),
        "end": format_utc(row.end) if row.end is not None else None, "note": row.note, "author": row.author,
        "created_at": format_utc(row.created_at), "sha256": row.sha256, "log_seq": row.log_seq,
    }


async def bookmarks_marking(
    db: async_sessionmaker[AsyncSession], start: datetime | None, end: datetime | None,
    camera: str | None = None, limit: int = MAX_LISTED,
) -> list[Bookmark]:
    """Bookmarks whose moment or range touches [start, end) (either side open when None), oldest first."""
    query = select(Bookmark)
    if camera is not None:
        query = query.where(Bookmark.camera_id == camera)
    if end is not None:
        query = query.where(Bookmark.start < end)
    if start is not None:
        query = query.where(or_(Bookmark.start >= start, func.coalesce(Bookmark.end, Bookmark.start) > start))
    async with db() as session:
        rows = await session.scalars(query.order_by(Bookmark.start, Bookmark.created_at, Bookmark.id).limit(limit))
        return list(rows.all())


async def bookmarks_made(
    db: async_sessionmaker[AsyncSession], since: datetime, until: datetime | None, limit: int = MAX_LISTED,
) -> list[Bookmark]:
    """Bookmarks made in [since, until) (until None: up to now), in the order they were made."""
    query = select(Bookmark).where(Bookmark.created_at >= since)
    if until is not None:
        query = query.where(Bookmark.created_at < until)
    async with db() as session:
        rows = await session.scalars(query.order_by(Bookmark.created_at, Bookmark.id).limit(limit))
        return list(rows.all())


class Bookmarks:
    """Places and lists bookmarks."""

    def __init__(self, db: async_sessionmaker[AsyncSession], clock: Clock, writer: RecordWriter) -> None:
        self._db = db
        self._clock = clock
        self._writer = writer

    async def place(self, who: Actor, camera: str, start: datetime, end: datetime | None, note: str) -> Bookmark:
        """A new bookmark, logged with its hash before it is stored."""
        note = note.strip()
        if not note:
            raise BadRequest("note: a bookmark needs a note")
        if len(note) > NOTE_MAX_CHARS:
            raise BadRequest(f"note: at most {NOTE_MAX_CHARS} characters")
        if end is not None:
            if end <= start:
                raise BadRequest("end must be after start")
            if (end - start).total_seconds() > MAX_RANGE_H * 3600:
                raise BadRequest(f"a bookmark's range spans at most {MAX_RANGE_H} hours")
        now = self._clock.now()
        content = {
            "kind": "bookmark", "id": f"bm-{uuid.uuid4().hex[:16]}", "camera": camera, "start": format_utc(start),
            "end": format_utc(end) if end is not None else None, "note": note, "author": who.user,
            "created_at": format_utc(now),
        }
        made: list[Bookmark] = []

        def row(text: str, digest: str, seq: int) -> Bookmark:
            made.append(Bookmark(id=content["id"], camera_id=camera, start=start, end=end, note=note,
                                 author=who.user, created_at=now, sha256=digest, content=text, log_seq=seq))
            return made[0]

        await self._writer.commit(content, AccessAction.BOOKMARK_PLACED, who, row,
                                  details={"camera": camera, "start": content["start"], "end": content["end"]})
        return made[0]

    async def marking(self, start: datetime | None, end: datetime | None, camera: str | None = None) -> list[Bookmark]:
        """Bookmarks touching [start, end), of one camera or all."""
        return await bookmarks_marking(self._db, start, end, camera)

    async def made(self, since: datetime, until: datetime | None) -> list[Bookmark]:
        """Bookmarks made in [since, until)."""
        return await bookmarks_made(self._db, since, until)
