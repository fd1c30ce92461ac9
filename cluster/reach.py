"""Whether this node reaches the database, as its lease keeper last found: a node cut off from
PostgreSQL cannot renew its leases, stops recording, and says so in /health (`cluster:database`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime


def _utc_now() -> datetime:
    return datetime.now(UTC)


class DatabaseReach:
    """Since when the keeper's database calls fail (None: they succeed), why, and what it stopped."""

    def __init__(self, now: Callable[[], datetime] = _utc_now) -> None:
        self._now = now
        self.unreachable_since: datetime | None = None
        self.error = ""
        #: Cameras this node stopped recording because it could not renew their leases.
        self.stopped_cameras: list[str] = []

    def failed(self, error: BaseException) -> None:
        """A database call of the keeper failed (the first failure of a run sets the time)."""
        if self.unreachable_since is None:
            self.unreachable_since = self._now()
        self.error = (f"{type(error).__name__}: {error}".strip(": ") or type(error).__name__)[:200]

    def stopped(self, camera: str) -> None:
        """`camera`'s recording stopped here because its lease could not be renewed."""
        if camera not in self.stopped_cameras:
            self.stopped_cameras.append(camera)

    def reached(self) -> None:
        """A database call of the keeper succeeded."""
        self.unreachable_since = None
        self.error = ""
        self.stopped_cameras.clear()

    @property
    def problem(self) -> str | None:
        """What /health says while the database is unreachable; None while it is reached."""
        if self.unreachable_since is None:
            return None
        since = self.unreachable_since.isoformat(timespec="seconds").replace("+00:00", "Z")
        text = f"cannot reach the database since {since} ({self.error})"
        if self.stopped_cameras:
            text += (f"; recording stopped for {len(self.stopped_cameras)} camera(s) whose leases could not be "
                     f"renewed: {', '.join(sorted(self.stopped_cameras))}")
        return text
