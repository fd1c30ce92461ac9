"""One camera's gaps: a row opened with its reason where recording stops, closed where it resumes."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from recorder.reports import RecordingEvent, RecordingEventKind, RecordingEventSink, emit
from recorder.index import GapFenced
from recorder.models import Gap
from streams.packet import StreamChange

log = logging.getLogger(__name__)


def stream_change_reason(change: StreamChange) -> str:
    """Why recording stopped when the source announced `change`."""
    return change.reason or ("camera reconnected" if change.streams else "camera stopped")


def fell_behind_reason(lost: int) -> str:
    return f"recorder fell behind: {lost} packets dropped"


def failure_reason(disk_full: bool, error: str) -> str:
    """Why recording stopped when the mux thread failed with `error` (fits the reason column)."""
    return ("storage full" if disk_full else f"write failed: {error}")[:256]


class GapIndex(Protocol):
    """The part of the segment index that keeps gap rows."""

    async def open_gap(
        self, camera: str, start: datetime, reason: str, stream: str = "main", lease_epoch: int | None = None
    ) -> int: ...

    async def close_gap(self, gap_id: int, end: datetime, lease_epoch: int | None = None) -> Gap | None: ...

    async def adopt_open_gap(self, camera: str, stream: str = "main", lease_epoch: int | None = None) -> Gap | None: ...


class Gaps:
    """At most one open gap row per camera, and one waiting to be written.

    `stopped()` is called where no database write can be awaited (a cut, a result from the
    mux thread); the gap it notes is written by the next `flush()` or `end()`. A failing
    index is logged and recording goes on: a gap row is worth less than the segments.
    """

    def __init__(
        self, camera_id: str, index: GapIndex, events: RecordingEventSink, stream: str = "main",
        lease_epoch: int | None = None,
    ) -> None:
        self.camera_id = camera_id
        #: The camera lease the writer records under (several nodes): every gap row is written under it,
        #: and refused once another node holds the camera (its gaps are the new owner's to keep).
        self.lease_epoch = lease_epoch
        #: The camera's stream whose recording these gaps interrupt ("main" or "sub").
        self.stream = stream
        self.index = index
        self.events = events
        self._open: tuple[int, datetime] | None = None  # (row id, start) of the open gap
        self._pending: tuple[datetime, str] | None = None  # (start, reason) not yet written

    async def resume(self, last_end: datetime | None, because: str) -> None:
        """On start: continue the gap a previous run left open, or open one at `last_end` (the
        end of the camera's last segment) for `because`."""
        try:
            left_open = await self.index.adopt_open_gap(self.camera_id, self.stream, self.lease_epoch)
        except GapFenced as fenced:
            log.warning("camera %s: %s", self.camera_id, fenced.detail)
            return
        if left_open is not None:
            self._open = (left_open.id, left_open.start)
        elif last_end is not None:
            await self._begin(last_end, because)

    def stopped(self, at: datetime, reason: str) -> None:
        """Recording stopped at `at`; unless a gap is open or waiting already, one starts there."""
        if self._open is None and self._pending is None:
            self._pending = (at, reason)

    async def flush(self) -> None:
        """Write the gap `stopped()` noted, if any."""
        if self._pending is not None:
            start, reason = self._pending
            self._pending = None
            await self._begin(start, reason)

    async def end(self, at: datetime) -> None:
        """Recording resumed at `at`: close the gap (writing it first if it is only noted)."""
        await self.flush()
        if self._open is None:
            return
        (gap_id, start), self._open = self._open, None
        try:
            gap = await self.index.close_gap(gap_id, at, self.lease_epoch)
        except GapFenced as fenced:
            log.warning("camera %s: end of gap not written: %s", self.camera_id, fenced.detail)
            return
        except Exception:
            log.exception("camera %s: could not record the end of a gap", self.camera_id)
            return
        log.info("camera %s: recording resumed at %s", self.camera_id, at.isoformat())
        await emit(self.events, RecordingEvent(
            RecordingEventKind.GAP_ENDED, self.camera_id, start, at,
            reason=gap.reason if gap else "", details=self._details,
        ))

    async def _begin(self, start: datetime, reason: str) -> None:
        if self._open is not None:
            return
        try:
            gap_id = await self.index.open_gap(self.camera_id, start, reason, self.stream, self.lease_epoch)
        except GapFenced as fenced:
            log.warning("camera %s: gap not written: %s", self.camera_id, fenced.detail)
            return
        except Exception:
            log.exception("camera %s: could not record the start of a gap", self.camera_id)
            return
        self._open = (gap_id, start)
        log.warning("camera %s: recording%s gap from %s (%s)", self.camera_id,
                    "" if self.stream == "main" else f" ({self.stream}-stream)", start.isoformat(), reason)
        await emit(self.events, RecordingEvent(RecordingEventKind.GAP_STARTED, self.camera_id, start, None,
                                               reason=reason, details=self._details))

    @property
    def _details(self) -> dict[str, str]:
        """A sub-stream's gap says so in the access log (a main-stream entry is as it always was)."""
        return {} if self.stream == "main" else {"stream": self.stream}
