"""Flapping: a camera that drops and reconnects again and again gives one `camera.flapping`, not a storm.

Pure logic on the times it is handed. A camera's first known state goes out and counts for
nothing. Within `window_s`, the first `threshold - 1` online/offline changes go out as they are; the next one raises `camera.flapping` and holds the camera's changes
back. Once no change has come for `hold_down_s`, the state it settled in goes out (if it differs
from the last one announced) and the camera is quiet again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.alerting import AlertKind, Scalar

STATE_KINDS = (AlertKind.CAMERA_ONLINE, AlertKind.CAMERA_OFFLINE)


@dataclass
class _Camera:
    changes: deque[float] = field(default_factory=deque)
    flapping_since: float | None = None
    last_change: float = 0.0
    announced: AlertKind | None = None
    pending: tuple[AlertKind, Mapping[str, Scalar]] | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to publish for one change: the change itself, or `camera.flapping`, or nothing."""

    send: bool
    flapping: bool = False
    changes: int = 0


class FlapFilter:
    """Decides, per camera, which online/offline changes are announced."""

    def __init__(self, window_s: float, threshold: int, hold_down_s: float) -> None:
        self.window_s = window_s
        self.threshold = threshold
        self.hold_down_s = hold_down_s
        self._cameras: dict[str, _Camera] = {}

    def change(self, camera: str, kind: AlertKind, details: Mapping[str, Scalar], now: float) -> Verdict:
        """A camera went online or offline at `now` (monotonic seconds)."""
        cam = self._cameras.setdefault(camera, _Camera())
        if cam.announced is None:  # its first known state (a start, a new camera) is no change
            cam.announced = kind
            return Verdict(send=True)
        cam.last_change = now
        cam.changes.append(now)
        while cam.changes and cam.changes[0] < now - self.window_s:
            cam.changes.popleft()
        if cam.flapping_since is not None:
            cam.pending = (kind, details)
            return Verdict(send=False)
        if len(cam.changes) >= self.threshold:
            cam.flapping_since = now
            cam.pending = (kind, details)
            return Verdict(send=False, flapping=True, changes=len(cam.changes))
        cam.announced = kind
        return Verdict(send=True)

    def settled(self, now: float) -> list[tuple[str, AlertKind, Mapping[str, Scalar]]]:
        """Flapping cameras quiet for `hold_down_s`: the state each settled in, if not announced yet."""
        out: list[tuple[str, AlertKind, Mapping[str, Scalar]]] = []
        for camera, cam in self._cameras.items():
            if cam.flapping_since is None or now - cam.last_change < self.hold_down_s:
                continue
            cam.flapping_since = None
            cam.changes.clear()
            if cam.pending is not None and cam.pending[0] != cam.announced:
                out.append((camera, *cam.pending))
                cam.announced = cam.pending[0]
            cam.pending = None
        return out
