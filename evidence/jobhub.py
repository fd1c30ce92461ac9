"""Live news of export jobs for whoever listens (the SSE stream): bounded queues that drop their
oldest when a listener lags, so a slow client never holds up a job."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

from evidence.models import ExportJob


class JobListener:
    """One listener: the jobs `wants` accepts, in order; None when the gateway stops."""

    def __init__(self, wants: Callable[[ExportJob], bool], size: int) -> None:
        self.wants = wants
        self.queue: asyncio.Queue[ExportJob | None] = asyncio.Queue(size)
        self.dropped = 0

    def offer(self, job: ExportJob | None) -> None:
        if job is not None and not self.wants(job):
            return
        while True:
            try:
                self.queue.put_nowait(job)
                return
            except asyncio.QueueFull:
                self.queue.get_nowait()
                self.dropped += 1


class JobHub:
    """Publishes a job's row on every change of state and, while it runs, its progress."""

    def __init__(self) -> None:
        self._listeners: set[JobListener] = set()

    def publish(self, job: ExportJob) -> None:
        for listener in list(self._listeners):
            listener.offer(job)

    def close(self) -> None:
        """Tell every listener the gateway is stopping."""
        for listener in list(self._listeners):
            listener.offer(None)

    @contextlib.contextmanager
    def listen(self, wants: Callable[[ExportJob], bool], size: int = 64) -> Iterator[JobListener]:
        """Jobs that `wants` accepts, while the block runs."""
        listener = JobListener(wants, size)
        self._listeners.add(listener)
        try:
            yield listener
        finally:
            self._listeners.discard(listener)
