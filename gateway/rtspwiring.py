"""The RTSP restream's wiring, part of the composition root: its gate over the gateway's policy,
users and access log, its mounts following the fleet, its task in the gateway's TaskGroup.
`restream` (PyGObject and GStreamer's typelibs) is imported only when `restream.rtsp.enabled`."""

from __future__ import annotations

import asyncio
from typing import Protocol

from core.clock import Clock
from gateway.services import Services
from streams.camera import Camera


class RtspRestreamLike(Protocol):
    """What the gateway keeps of the RTSP restream (restream/service.py, imported only when enabled)."""

    port: int


def camera_groups(cameras: dict[str, Camera], camera_id: str) -> frozenset[str] | None:
    """A camera's groups; None when there is no such camera."""
    camera = cameras.get(camera_id)
    return frozenset(camera.config.groups) if camera is not None else None


async def start_rtsp(tasks: asyncio.TaskGroup, services: Services, clock: Clock) -> RtspRestreamLike:
    """The RTSP restream in the task group, its mounts following the fleet; returns once it listens."""
    # Imported here: it loads PyGObject and GStreamer's typelibs, which a gateway without the
    # restream need not have.
    from restream.gate import RtspGate
    from restream.service import RtspRestream

    settings = services.settings
    gate = RtspGate(services.device_secrets.password, settings.access,
                    lambda camera: camera_groups(services.cameras, camera), clock, services.access_log,
                    services.device_throttle, services.refusals)
    rtsp = RtspRestream(settings.restream.rtsp, services.cameras, gate, services.access_log,
                        services.recorder.reader, services.recorder.index.span, clock, settings.hub.subscriber_queue)
    services.fleet.on_removed(rtsp.camera_removed)
    services.fleet.on_added(rtsp.camera_added)
    task = tasks.create_task(rtsp.run(), name="rtsp")
    ready = asyncio.create_task(rtsp.wait_ready())
    await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        ready.cancel()
        await task  # raises why it did not start (the TaskGroup stops the gateway with it)
    return rtsp
