"""How the composition root wires the ONVIF device facade (onvif_server/) to the rest: camera
states and ONVIF alarms relayed to its subscriptions, and Pantau's PTZ client passed through."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from camera_events.service import EventService, onvif_source
from onvif_adapters.errors import OnvifError
from onvif_adapters.ptz import MoveMode, PtzControl, PtzMove, PtzSessions
from onvif_adapters.topics import EventKind
from onvif_server.events import OnvifNotice
from onvif_server.facade import OnvifServer
from onvif_server.ptz import PtzPosition
from streams.camera import Camera
from streams.state import CameraState, CameraStatus

def relay_state(server: OnvifServer, camera_id: str, old: CameraStatus | None, new: CameraStatus) -> None:
    """A camera going offline or coming back, to the ONVIF facade's subscriptions (not its first state)."""
    lost = new.state is CameraState.OFFLINE
    if old is not None and (old.state is CameraState.OFFLINE) != lost:
        server.publish(OnvifNotice(camera_id, "camera_offline", lost, new.since))


async def relay_camera_events(events: EventService, server: OnvifServer) -> None:
    """The ONVIF alarms of Pantau's cameras, to the ONVIF facade's subscriptions, until the events service stops."""
    with events.listen(lambda camera: True) as listener:
        while (event := await listener.queue.get()) is not None:
            if event.kind is EventKind.OTHER or event.initial:
                continue
            token = event.source.get("InputToken") if event.kind is EventKind.DIGITAL_INPUT else None
            server.publish(OnvifNotice(event.camera, event.kind.value, event.active, event.at, token))


class OnvifPtzBridge:
    """Pantau's PTZ client as the ONVIF facade passes commands through (onvif_server/ptz.py `CameraPtz`):
    the same per-camera sessions the PTZ routes use, dropped after a failure so the next command reconnects."""

    def __init__(self, sessions: PtzSessions) -> None:
        self._sessions = sessions

    def available(self, camera: Camera) -> bool:
        """An onvif:// camera (whether the device really has PTZ shows on the first command)."""
        return onvif_source(camera) is not None

    async def _run(self, camera: Camera, act: Callable[[PtzControl], Awaitable[Any]]) -> Any:
        source = onvif_source(camera)
        if source is None:
            raise OnvifError(f"camera {camera.id!r} is not an ONVIF camera")
        profile = source.device.profile if source.device is not None else None
        try:
            return await act(await self._sessions.control(camera.id, source.client, profile))
        except OnvifError:
            await self._sessions.forget(camera.id)
            raise

    async def move(self, camera: Camera, mode: str, pan: float | None, tilt: float | None, zoom: float | None,
                   timeout_s: float | None) -> None:
        """A continuous, relative or absolute move."""
        await self._run(camera, lambda c: c.move(PtzMove(MoveMode(mode), pan, tilt, zoom, timeout_s)))

    async def stop(self, camera: Camera) -> None:
        """Stop every axis."""
        await self._run(camera, lambda c: c.stop())

    async def presets(self, camera: Camera) -> list[tuple[str, str]]:
        """(token, name) of each preset."""
        found = await self._run(camera, lambda c: c.presets())
        return [(p.token, p.name) for p in found]

    async def goto_preset(self, camera: Camera, token: str) -> None:
        """Go to a preset."""
        await self._run(camera, lambda c: c.goto_preset(token))

    async def home(self, camera: Camera) -> None:
        """Go home."""
        await self._run(camera, lambda c: c.home())

    async def status(self, camera: Camera) -> PtzPosition:
        """Where it points."""
        here = await self._run(camera, lambda c: c.status())
        return PtzPosition(here.pan, here.tilt, here.zoom, here.moving)
