"""Camera connection states and the status record the API, metrics and shift reports read."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class CameraState(enum.StrEnum):
    """Where a camera is in its life; `degraded` = online but failing an image or rate check."""

    CONNECTING = "connecting"
    ONLINE = "online"
    DEGRADED = "degraded"
    OFFLINE = "offline"
    DISABLED = "disabled"
    #: Several nodes: another node holds the camera's lease and ingests it; this one does not connect.
    REMOTE = "remote"

    @property
    def up(self) -> bool:
        """The camera delivers video (online, or degraded: online but failing an image check)."""
        return self in (CameraState.ONLINE, CameraState.DEGRADED)


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """An immutable snapshot of a camera's state; a new one replaces it on every change."""

    state: CameraState
    since: datetime
    reason: str = ""
    attempt: int = 0
    next_retry_at: datetime | None = None
    #: Active image/health problems, e.g. ("frozen", "black"); non-empty => degraded.
    problems: tuple[str, ...] = field(default_factory=tuple)


class StatusListener(Protocol):
    """Told of every state transition (the gateway stores them for the shift report)."""

    def __call__(self, camera_id: str, old: CameraStatus | None, new: CameraStatus) -> None: ...
