"""Camera state changes as alerts: up (online or degraded) and down (offline), and picture problems.

A camera that is reconnecting passes through `connecting` and `offline` on every attempt; only the
change between up and down is announced, once, with the reason. Problems (frozen, black, tamper,
video loss, clock drift, ...) appearing give `camera.degraded` naming the new ones; all gone give
`camera.recovered`. A camera taken out of service by an administrator is not an alert.
"""

from __future__ import annotations

from core.alerting import AlertKind, Notice, Publisher
from streams.state import CameraState, CameraStatus


class StateAlerts:
    """A `streams.state.StatusListener` that publishes what changed."""

    def __init__(self, publisher: Publisher) -> None:
        self._publisher = publisher
        self._up: dict[str, bool] = {}

    def __call__(self, camera_id: str, old: CameraStatus | None, new: CameraStatus) -> None:
        publish = self._publisher.publish
        was_up = self._up.get(camera_id)
        if new.state.up and was_up is not True:
            self._up[camera_id] = True
            publish(Notice(AlertKind.CAMERA_ONLINE, camera_id))
        elif new.state is CameraState.OFFLINE and was_up is not False:
            self._up[camera_id] = False
            publish(Notice(AlertKind.CAMERA_OFFLINE, camera_id, {"reason": new.reason}))
        elif new.state in (CameraState.DISABLED, CameraState.REMOTE):
            # Nothing to say: switched off, or another node ingests it now (and says what it sees).
            self._up.pop(camera_id, None)
        before = set(old.problems) if old is not None and old.state.up else set()
        after = set(new.problems) if new.state.up else set()
        if after - before:
            publish(Notice(AlertKind.CAMERA_DEGRADED, camera_id, {
                "problems": ", ".join(sorted(after)), "new": ", ".join(sorted(after - before)), "reason": new.reason,
            }))
        elif before and not after and new.state.up:
            publish(Notice(AlertKind.CAMERA_RECOVERED, camera_id, {"cleared": ", ".join(sorted(before))}))
