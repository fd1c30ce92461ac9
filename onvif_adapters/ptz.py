"""PTZ through ONVIF: moves, stop, presets and home, limited to what the camera says it can do.

What a camera can do is read once from the profile's PTZ configuration and its PTZ node
(GetNode: supported spaces with their ranges, preset count, home support) and, where the
camera answers it, GetConfigurationOptions (the continuous-move timeout range). Every
command is checked against that before it is sent, so an operator hears "this camera
cannot zoom" or "pan 1.5 is outside [-1, 1]" from us instead of a vendor's SOAP fault.
Calls go through `OnvifClient.call`, so a camera that fails answers with an `OnvifError`
(timeout, fault, unreachable). Only plain dataclasses leave this module.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from core.errors import Conflict, NotFound, Unprocessable
from onvif_adapters.client import OnvifClient
from onvif_adapters.errors import OnvifError

log = logging.getLogger(__name__)

PTZ_NAMESPACE = "http://www.onvif.org/ver20/ptz/wsdl"
# Without a camera-given range, a continuous move lasts at most this long.
MAX_TIMEOUT_S = 300.0
# ONVIF's generic spaces: the ones every PTZ node must support in its generic form.
GENERIC = {
    "absolute": "PositionGenericSpace",
    "relative": "TranslationGenericSpace",
    "continuous": "VelocityGenericSpace",
}


class PtzUnsupported(Conflict):
    """The camera (or its profile) cannot do this; asking again will not help."""

    title = "Not supported by this camera"
    kind = "ptz-unsupported"


class PtzOutOfRange(Unprocessable):
    """A value lies outside the range the camera declares."""

    title = "PTZ value out of range"
    kind = "ptz-out-of-range"


class MoveMode(enum.StrEnum):
    CONTINUOUS = "continuous"
    RELATIVE = "relative"
    ABSOLUTE = "absolute"


@dataclass(frozen=True, slots=True)
class Range:
    low: float
    high: float

    def check(self, name: str, value: float) -> None:
        """Raise PtzOutOfRange unless low <= value <= high."""
        if not self.low <= value <= self.high:
            raise PtzOutOfRange(f"{name} {value:g} is outside the camera's range [{self.low:g}, {self.high:g}]")

    def intersect(self, other: Range | None) -> Range:
        if other is None:
            return self
        return Range(max(self.low, other.low), min(self.high, other.high))


@dataclass(frozen=True, slots=True)
class Space:
    """One ONVIF coordinate space: pan (x) and tilt (y), or zoom (x only)."""

    uri: str
    x: Range
    y: Range | None = None


@dataclass(frozen=True, slots=True)
class PtzCapabilities:
    """What one camera profile's PTZ can do, as the camera declares it."""

    profile: str
    node: str
    pan_tilt: dict[MoveMode, Space]
    zoom: dict[MoveMode, Space]
    max_presets: int
    home_supported: bool
    timeout: Range

    @property
    def modes(self) -> list[MoveMode]:
        return [m for m in MoveMode if m in self.pan_tilt or m in self.zoom]


@dataclass(frozen=True, slots=True)
class PtzMove:
    """A move as asked for: velocities (continuous), offsets (relative) or a position (absolute)."""

    mode: MoveMode
    pan: float | None = None
    tilt: float | None = None
    zoom: float | None = None
    timeout_s: float | None = None


@dataclass(frozen=True, slots=True)
class PtzStatus:
    pan: float | None
    tilt: float | None
    zoom: float | None
    moving: bool | None


@dataclass(frozen=True, slots=True)
class PtzPreset:
    token: str
    name: str
    pan: float | None = None
    tilt: float | None = None
    zoom: float | None = None


def _range(value: Any) -> Range | None:
    return None if value is None else Range(float(value.Min), float(value.Max))


def _pick(spaces: Any, default_uri: str | None, generic: str) -> Any | None:
    """The space the camera will use: the configuration's default, else the generic one."""
    spaces = list(spaces or [])
    for want in (default_uri, generic):
        for space in spaces:
            if want and str(space.URI).endswith(want):
                return space
    return spaces[0] if spaces else None


def _spaces(node: Any, config: Any) -> tuple[dict[MoveMode, Space], dict[MoveMode, Space]]:
    supported = node.SupportedPTZSpaces
    # The ONVIF schema spells the absolute pan/tilt default "DefaultAbsolutePantTiltPositionSpace".
    defaults = {
        (MoveMode.ABSOLUTE, "pt"): config.DefaultAbsolutePantTiltPositionSpace,
        (MoveMode.ABSOLUTE, "z"): config.DefaultAbsoluteZoomPositionSpace,
        (MoveMode.RELATIVE, "pt"): config.DefaultRelativePanTiltTranslationSpace,
        (MoveMode.RELATIVE, "z"): config.DefaultRelativeZoomTranslationSpace,
        (MoveMode.CONTINUOUS, "pt"): config.DefaultContinuousPanTiltVelocitySpace,
        (MoveMode.CONTINUOUS, "z"): config.DefaultContinuousZoomVelocitySpace,
    }
    fields = {
        MoveMode.ABSOLUTE: ("AbsolutePanTiltPositionSpace", "AbsoluteZoomPositionSpace"),
        MoveMode.RELATIVE: ("RelativePanTiltTranslationSpace", "RelativeZoomTranslationSpace"),
        MoveMode.CONTINUOUS: ("ContinuousPanTiltVelocitySpace", "ContinuousZoomVelocitySpace"),
    }
    pt_limits = config.PanTiltLimits.Range if config.PanTiltLimits is not None else None
    z_limits = config.ZoomLimits.Range if config.ZoomLimits is not None else None
    pan_tilt: dict[MoveMode, Space] = {}
    zoom: dict[MoveMode, Space] = {}
    for mode, (pt_field, z_field) in fields.items():
        generic = GENERIC[mode.value]
        pt = _pick(getattr(supported, pt_field, None), defaults[(mode, "pt")], generic)
        if pt is not None:
            x, y = _range(pt.XRange), _range(pt.YRange)
            assert x is not None
            if mode is MoveMode.ABSOLUTE and pt_limits is not None:
                # The configuration may fence the node's space in (e.g. a ceiling mount).
                x, y = x.intersect(_range(pt_limits.XRange)), (y or x).intersect(_range(pt_limits.YRange))
            pan_tilt[mode] = Space(str(pt.URI), x, y)
        z = _pick(getattr(supported, z_field, None), defaults[(mode, "z")], generic)
        if z is not None:
            x = _range(z.XRange)
            assert x is not None
            if mode is MoveMode.ABSOLUTE and z_limits is not None:
                x = x.intersect(_range(z_limits.XRange))
            zoom[mode] = Space(str(z.URI), x)
    return pan_tilt, zoom


class PtzControl:
    """PTZ commands for one camera profile over an ONVIF device connection."""

    def __init__(self, client: OnvifClient, profile: str | None = None) -> None:
        self._client = client
        self._profile_wanted = profile
        self._caps: PtzCapabilities | None = None
        self._lock = asyncio.Lock()

    async def capabilities(self) -> PtzCapabilities:
        """What this profile's PTZ can do (read once from the camera, then kept)."""
        async with self._lock:
            if self._caps is None:
                self._caps = await self._load_capabilities()
            return self._caps

    async def _load_capabilities(self) -> PtzCapabilities:
        client = self._client
        device = client.camera
        if PTZ_NAMESPACE not in device.xaddrs:
            raise PtzUnsupported("this camera has no ONVIF PTZ service")
        media = await client.call("media service", device.create_media_service)
        profiles = await client.call("GetProfiles", media.GetProfiles)
        wanted = self._profile_wanted
        chosen = next((p for p in profiles if p.token == wanted), None) if wanted else None
        if wanted and chosen is None:
            raise PtzUnsupported(f"the camera has no media profile {wanted!r}")
        if chosen is None:
            chosen = next((p for p in profiles if p.PTZConfiguration is not None), None)
        if chosen is None or chosen.PTZConfiguration is None:
            name = f"profile {chosen.token!r}" if chosen is not None else "no profile"
            raise PtzUnsupported(f"{name} of this camera has no PTZ configuration")
        config = chosen.PTZConfiguration
        ptz = await self._ptz()
        node = await client.call("GetNode", lambda: ptz.GetNode({"NodeToken": config.NodeToken}))
        pan_tilt, zoom = _spaces(node, config)
        timeout = Range(0.0, MAX_TIMEOUT_S)
        try:
            options = await client.call(
                "GetConfigurationOptions", lambda: ptz.GetConfigurationOptions({"ConfigurationToken": config.token})
            )
            span = getattr(getattr(options, "PTZConfigurationOptions", None), "PTZTimeout", None)
            if span is not None:
                timeout = Range(span.Min.total_seconds(), span.Max.total_seconds())
        except OnvifError as exc:
            # Optional for our purposes: the node already told us the spaces.
            log.debug("GetConfigurationOptions not usable: %s", exc.detail)
        return PtzCapabilities(
            profile=str(chosen.token),
            node=str(node.token),
            pan_tilt=pan_tilt,
            zoom=zoom,
            max_presets=int(node.MaximumNumberOfPresets or 0),
            home_supported=bool(node.HomeSupported),
            timeout=timeout,
        )

    async def _ptz(self) -> Any:
        return await self._client.call("PTZ service", self._client.camera.create_ptz_service)

    async def _send(self, operation: str, request: dict[str, Any]) -> Any:
        ptz = await self._ptz()
        return await self._client.call(operation, lambda: getattr(ptz, operation)(request))

    async def move(self, move: PtzMove) -> None:
        """Start (continuous) or make (relative, absolute) a move after checking it against the camera."""
        caps = await self.capabilities()
        mode = move.mode
        if move.pan is None and move.tilt is None and move.zoom is None:
            raise Unprocessable("give at least one of pan, tilt, zoom")
        pt_space, z_space = caps.pan_tilt.get(mode), caps.zoom.get(mode)
        if (move.pan is not None or move.tilt is not None) and pt_space is None:
            raise PtzUnsupported(f"this camera cannot pan or tilt in {mode} mode")
        if move.zoom is not None and z_space is None:
            raise PtzUnsupported(f"this camera cannot zoom in {mode} mode")
        if move.timeout_s is not None and mode is not MoveMode.CONTINUOUS:
            raise Unprocessable("timeout_s applies to continuous moves only")
        pan, tilt = move.pan, move.tilt
        if mode is MoveMode.ABSOLUTE and (pan is None) != (tilt is None):
            # ONVIF moves pan and tilt together: keep the axis not asked for where it is.
            here = await self.status()
            pan = here.pan if pan is None else pan
            tilt = here.tilt if tilt is None else tilt
        elif pan is not None or tilt is not None:
            pan, tilt = pan or 0.0, tilt or 0.0
        vector: dict[str, Any] = {}
        if pt_space is not None and pan is not None and tilt is not None:
            pt_space.x.check("pan", pan)
            (pt_space.y or pt_space.x).check("tilt", tilt)
            vector["PanTilt"] = {"x": pan, "y": tilt}
        if z_space is not None and move.zoom is not None:
            z_space.x.check("zoom", move.zoom)
            vector["Zoom"] = {"x": move.zoom}
        request: dict[str, Any] = {"ProfileToken": caps.profile}
        if mode is MoveMode.CONTINUOUS:
            request["Velocity"] = vector
            if move.timeout_s is not None:
                if move.timeout_s <= 0:
                    raise PtzOutOfRange("timeout_s must be above 0")
                caps.timeout.check("timeout_s", move.timeout_s)
                request["Timeout"] = timedelta(seconds=move.timeout_s)
            await self._send("ContinuousMove", request)
        elif mode is MoveMode.RELATIVE:
            request["Translation"] = vector
            await self._send("RelativeMove", request)
        else:
            request["Position"] = vector
            await self._send("AbsoluteMove", request)

    async def stop(self) -> None:
        """Stop pan, tilt and zoom."""
        caps = await self.capabilities()
        await self._send("Stop", {"ProfileToken": caps.profile, "PanTilt": True, "Zoom": True})

    async def status(self) -> PtzStatus:
        """Where the camera points now, if it reports it."""
        caps = await self.capabilities()
        status = await self._send("GetStatus", {"ProfileToken": caps.profile})
        position = getattr(status, "Position", None)
        pan_tilt = getattr(position, "PanTilt", None)
        zoom = getattr(position, "Zoom", None)
        move_status = getattr(status, "MoveStatus", None)
        states = {str(getattr(move_status, a, "") or "").upper() for a in ("PanTilt", "Zoom")} - {""}
        # Valid values are IDLE, MOVING and UNKNOWN; anything else (ipycam sends template text)
        # says nothing.
        moving = True if "MOVING" in states else (False if states and states <= {"IDLE"} else None)
        return PtzStatus(
            pan=_float(getattr(pan_tilt, "x", None)),
            tilt=_float(getattr(pan_tilt, "y", None)),
            zoom=_float(getattr(zoom, "x", None)),
            moving=moving,
        )

    async def presets(self) -> list[PtzPreset]:
        """The presets stored in the camera."""
        caps = await self.capabilities()
        if caps.max_presets <= 0:
            raise PtzUnsupported("this camera has no presets")
        found = await self._send("GetPresets", {"ProfileToken": caps.profile})
        result = []
        for preset in found or []:
            position = getattr(preset, "PTZPosition", None)
            pan_tilt = getattr(position, "PanTilt", None)
            zoom = getattr(position, "Zoom", None)
            result.append(
                PtzPreset(
                    token=str(preset.token),
                    name=str(preset.Name or ""),
                    pan=_float(getattr(pan_tilt, "x", None)),
                    tilt=_float(getattr(pan_tilt, "y", None)),
                    zoom=_float(getattr(zoom, "x", None)),
                )
            )
        return result

    async def goto_preset(self, token: str) -> None:
        """Move to a stored preset; 404 if the camera has no such preset."""
        caps = await self.capabilities()
        if not any(p.token == token for p in await self.presets()):
            raise NotFound(f"the camera has no preset {token!r}")
        await self._send("GotoPreset", {"ProfileToken": caps.profile, "PresetToken": token})

    async def set_preset(self, name: str, token: str | None = None) -> str:
        """Store the current position as a preset (a new one, or overwrite `token`); returns its token."""
        caps = await self.capabilities()
        existing = await self.presets()
        if token is not None and not any(p.token == token for p in existing):
            raise NotFound(f"the camera has no preset {token!r} to overwrite")
        if token is None and len(existing) >= caps.max_presets:
            raise PtzUnsupported(f"the camera holds at most {caps.max_presets} presets and all are used")
        request: dict[str, Any] = {"ProfileToken": caps.profile, "PresetName": name}
        if token is not None:
            request["PresetToken"] = token
        return str(await self._send("SetPreset", request))

    async def home(self) -> None:
        """Move to the home position."""
        caps = await self.capabilities()
        if not caps.home_supported:
            raise PtzUnsupported("this camera has no home position")
        await self._send("GotoHomePosition", {"ProfileToken": caps.profile})


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


class PtzSessions:
    """One open ONVIF connection and PtzControl per camera, opened on first use, kept for the next command.

    A joystick sends a command every few hundred milliseconds; connecting each time (clock
    reading, GetServices, WSDL binding) would cost more than the command. A session whose
    command failed is dropped, so the next one reconnects. Owned by the composition root,
    which calls `aclose()` on the way out.
    """

    def __init__(self) -> None:
        self._open: dict[str, tuple[OnvifClient, PtzControl]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def control(self, camera_id: str, open_client: Callable[[], OnvifClient], profile: str | None) -> PtzControl:
        """The camera's PtzControl, connecting first if needed (raises OnvifError)."""
        lock = self._locks.setdefault(camera_id, asyncio.Lock())
        async with lock:
            if camera_id in self._open:
                return self._open[camera_id][1]
            client = open_client()
            await client.__aenter__()
            try:
                await client.connect()
            except BaseException:
                await client.close()
                raise
            control = PtzControl(client, profile)
            self._open[camera_id] = (client, control)
            return control

    async def forget(self, camera_id: str) -> None:
        """Close the camera's session (after a failure); the next command reconnects."""
        entry = self._open.pop(camera_id, None)
        if entry is not None:
            await entry[0].close()

    async def aclose(self) -> None:
        """Close every session."""
        for camera_id in list(self._open):
            await self.forget(camera_id)
