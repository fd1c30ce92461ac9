"""The PTZ service (ONVIF PTZ, ver20), passed through to the cameras' own PTZ.

A camera has PTZ here when the gateway's `CameraPtz` says so (an onvif:// camera: Pantau's own PTZ,
gateway/http/ptz.py's path). Each command asks `view_camera` (a camera the account may not see is a
profile that does not exist) and `ptz` (policy `access.ptz`), and is a `ptz` entry in the access log
with its outcome, as a command from the wall is. Moves are checked against the camera's own ranges
by Pantau's PTZ client; the node we describe offers ONVIF's generic spaces.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from lxml import etree

from core.clock import Clock
from core.errors import PantauError
from onvif_server.access import OnvifAccess
from onvif_server.calls import Call, Caller
from onvif_server.profiles import SPACES, ptz_configuration, split_token
from onvif_server.soap import SoapFault, SoapRequest, el, invalid_arg, many, text_of
from policy.audit.entries import AccessAction, AccessEvent, AccessRecorder, Scalar
from policy.decision import Action
from streams.camera import Camera

_DURATION = re.compile(r"PT(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?")


@dataclass(frozen=True)
class PtzPosition:
    """Where a camera points (None where it does not say) and whether it is moving."""

    pan: float | None
    tilt: float | None
    zoom: float | None
    moving: bool | None


class CameraPtz(Protocol):
    """The cameras' PTZ as the facade passes commands through (the gateway adapts Pantau's PTZ client)."""

    def available(self, camera: Camera) -> bool: ...
    async def move(self, camera: Camera, mode: str, pan: float | None, tilt: float | None, zoom: float | None,
                   timeout_s: float | None) -> None: ...
    async def stop(self, camera: Camera) -> None: ...
    async def presets(self, camera: Camera) -> list[tuple[str, str]]: ...
    async def goto_preset(self, camera: Camera, token: str) -> None: ...
    async def home(self, camera: Camera) -> None: ...
    async def status(self, camera: Camera) -> PtzPosition: ...


def _space2(tag: str, uri: str) -> etree._Element:
    return el(tag, el("tt:URI", uri), el("tt:XRange", el("tt:Min", -1), el("tt:Max", 1)),
              el("tt:YRange", el("tt:Min", -1), el("tt:Max", 1)))


def _space1(tag: str, uri: str, low: float = -1) -> etree._Element:
    return el(tag, el("tt:URI", uri), el("tt:XRange", el("tt:Min", low), el("tt:Max", 1)))


def ptz_node(camera_id: str) -> etree._Element:
    """A PTZ camera's node: ONVIF's generic spaces (the camera's own ranges are checked on each move)."""
    return el("tptz:PTZNode", el("tt:Name", camera_id), el(
        "tt:SupportedPTZSpaces",
        _space2("tt:AbsolutePanTiltPositionSpace", SPACES["absolute_pt"]),
        _space1("tt:AbsoluteZoomPositionSpace", SPACES["absolute_z"], 0),
        _space2("tt:RelativePanTiltTranslationSpace", SPACES["relative_pt"]),
        _space1("tt:RelativeZoomTranslationSpace", SPACES["relative_z"]),
        _space2("tt:ContinuousPanTiltVelocitySpace", SPACES["continuous_pt"]),
        _space1("tt:ContinuousZoomVelocitySpace", SPACES["continuous_z"])),
        el("tt:MaximumNumberOfPresets", 100), el("tt:HomeSupported", True), token=f"node_{camera_id}")


def _seconds(duration: str | None) -> float | None:
    """An xs:duration of minutes and seconds (what PTZ timeouts are) in seconds."""
    if not duration:
        return None
    match = _DURATION.fullmatch(duration)
    if match is None or not any(match.groups()):
        raise invalid_arg("InvalidParameter", f"Timeout {duration[:32]!r} is not a duration like PT5S")
    minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return minutes * 60 + seconds


def _vector(node: etree._Element | None) -> tuple[float | None, float | None, float | None]:
    """(pan, tilt, zoom) of a tt:PTZSpeed / tt:PTZVector."""
    if node is None:
        return None, None, None
    pan_tilt = node.find("tt:PanTilt", {"tt": "http://www.onvif.org/ver10/schema"})
    zoom = node.find("tt:Zoom", {"tt": "http://www.onvif.org/ver10/schema"})

    def number(n: etree._Element | None, attr: str) -> float | None:
        raw = n.get(attr) if n is not None else None
        try:
            return float(raw) if raw is not None else None
        except ValueError as exc:
            raise invalid_arg("InvalidParameter", f"{attr} must be a number") from exc

    return number(pan_tilt, "x"), number(pan_tilt, "y"), number(zoom, "x")


class PtzService:
    """Answers the PTZ service's operations by passing them to the camera."""

    def __init__(self, access: OnvifAccess, clock: Clock, cameras: dict[str, Camera], ptz: CameraPtz,
                 access_log: AccessRecorder) -> None:
        self._access = access
        self._clock = clock
        self._cameras = cameras
        self._ptz = ptz
        self._log = access_log

    async def _visible_ptz(self, call: Call, caller: Caller, operation: str) -> list[Camera]:
        return [c for c in await self._access.visible(call, caller, operation) if self._ptz.available(c)]

    async def _camera(self, call: Call, caller: Caller, req: SoapRequest, operation: str) -> Camera:
        """The PTZ camera of ProfileToken, if the caller may see it (else NoProfile) and move it (logged)."""
        token = text_of(req.body, "tptz:ProfileToken") or ""
        camera = self._cameras.get(split_token(token)[0])
        if (camera is None or (call.camera is not None and camera.config.id != call.camera)
                or not self._access.decision(call, caller, Action.VIEW_CAMERA, camera).allowed):
            raise invalid_arg("NoProfile", f"no profile {token[:64]!r}")
        if not self._ptz.available(camera):
            raise SoapFault("Sender", ("ter:InvalidArgVal", "ter:NoPTZProfile"), "this profile has no PTZ")
        if not await self._access.authorize(call, caller, Action.PTZ, camera, operation):
            raise SoapFault("Sender", ("ter:NotAuthorized",), "PTZ of this camera is not allowed for this account")
        return camera

    async def _command(self, call: Call, caller: Caller, camera: Camera, command: str,
                       details: dict[str, Scalar], run: Callable[[], Awaitable[None]]) -> None:
        outcome, reason = "error", ""
        try:
            await run()
            outcome = "ok"
        except PantauError as exc:
            reason = exc.detail
            raise SoapFault("Receiver", ("ter:Action", "ter:PTZFailed"), f"the camera refused: {exc.detail}") from exc
        finally:
            await self._log.record(AccessEvent(
                AccessAction.PTZ, actor=caller.username, role=caller.role, client=call.client,
                camera=camera.config.id, outcome="ok" if outcome == "ok" else "error", reason=reason,
                details={"command": command, "via": "onvif", **details}))

    async def get_nodes(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """One node per visible PTZ camera."""
        cameras = await self._visible_ptz(call, caller, "GetNodes")
        return el("tptz:GetNodesResponse", *many(ptz_node(c.config.id) for c in cameras))

    async def get_configurations(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """One configuration per visible PTZ camera."""
        cameras = await self._visible_ptz(call, caller, "GetConfigurations")
        return el("tptz:GetConfigurationsResponse", *many(
            ptz_configuration(c.config.id, "tptz:PTZConfiguration") for c in cameras))

    async def get_status(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """Where the camera points, as it says."""
        camera = await self._camera(call, caller, req, "GetStatus")
        try:
            here = await self._ptz.status(camera)
        except PantauError as exc:
            raise SoapFault("Receiver", ("ter:Action", "ter:PTZFailed"), f"the camera refused: {exc.detail}") from exc
        position = el("tt:Position",
                      el("tt:PanTilt", x=str(here.pan), y=str(here.tilt), space=SPACES["absolute_pt"])
                      if here.pan is not None and here.tilt is not None else None,
                      el("tt:Zoom", x=str(here.zoom), space=SPACES["absolute_z"]) if here.zoom is not None else None)
        moving = None if here.moving is None else ("MOVING" if here.moving else "IDLE")
        status = el("tptz:PTZStatus", position,
                    el("tt:MoveStatus", el("tt:PanTilt", moving), el("tt:Zoom", moving)) if moving else None,
                    el("tt:UtcTime", self._clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")))
        return el("tptz:GetStatusResponse", status)

    async def _move(self, call: Call, caller: Caller, req: SoapRequest, operation: str, mode: str,
                    vector_tag: str) -> etree._Element:
        camera = await self._camera(call, caller, req, operation)
        pan, tilt, zoom = _vector(req.body.find(vector_tag, {"tptz": "http://www.onvif.org/ver20/ptz/wsdl"}))
        timeout_s = _seconds(text_of(req.body, "tptz:Timeout")) if mode == "continuous" else None
        details: dict[str, Scalar] = {"mode": mode, "pan": pan, "tilt": tilt, "zoom": zoom, "timeout_s": timeout_s}
        await self._command(call, caller, camera, "move", details,
                            lambda: self._ptz.move(camera, mode, pan, tilt, zoom, timeout_s))
        return el(f"tptz:{operation}Response")

    async def continuous_move(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """Velocities until Stop or the timeout."""
        return await self._move(call, caller, req, "ContinuousMove", "continuous", "tptz:Velocity")

    async def relative_move(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """Offsets from where it points."""
        return await self._move(call, caller, req, "RelativeMove", "relative", "tptz:Translation")

    async def absolute_move(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """A position."""
        return await self._move(call, caller, req, "AbsoluteMove", "absolute", "tptz:Position")

    async def stop(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """Stop pan, tilt and zoom."""
        camera = await self._camera(call, caller, req, "Stop")
        await self._command(call, caller, camera, "stop", {}, lambda: self._ptz.stop(camera))
        return el("tptz:StopResponse")

    async def get_presets(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """The camera's presets (token and name)."""
        camera = await self._camera(call, caller, req, "GetPresets")
        try:
            presets = await self._ptz.presets(camera)
        except PantauError as exc:
            raise SoapFault("Receiver", ("ter:Action", "ter:PTZFailed"), f"the camera refused: {exc.detail}") from exc
        return el("tptz:GetPresetsResponse", *many(
            el("tptz:Preset", el("tt:Name", name), token=token) for token, name in presets))

    async def goto_preset(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """Go to one of the camera's presets."""
        camera = await self._camera(call, caller, req, "GotoPreset")
        token = text_of(req.body, "tptz:PresetToken") or ""
        await self._command(call, caller, camera, "goto_preset", {"preset": token[:64]},
                            lambda: self._ptz.goto_preset(camera, token))
        return el("tptz:GotoPresetResponse")

    async def goto_home_position(self, call: Call, caller: Caller, req: SoapRequest) -> etree._Element:
        """Go to the camera's home position."""
        camera = await self._camera(call, caller, req, "GotoHomePosition")
        await self._command(call, caller, camera, "home", {}, lambda: self._ptz.home(camera))
        return el("tptz:GotoHomePositionResponse")
