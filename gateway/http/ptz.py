"""PTZ routes: moves, stop, presets and home of an onvif:// camera, for roles `access.ptz` allows.

Every command asks the policy engine (Action.PTZ; a denial is logged by `authorize`) and is
written to the access log as a `ptz` entry naming the command, its values, the camera and
whether the camera carried it out. Reads (capabilities, position, preset list) ask the
policy too but are not logged.
"""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web

from core.errors import BadRequest, Conflict, NotFound, PantauError, Unprocessable
from camera_events.service import onvif_source
from gateway.http.auth import signed_in
from gateway.http.body import read_json
from gateway.http.guard import authorize
from gateway.http.appkeys import SERVICES
from onvif_adapters.errors import OnvifError
from onvif_adapters.ptz import MoveMode, PtzControl, PtzMove, PtzStatus
from policy.decision import Action
from policy.audit.entries import AccessAction, AccessEvent, Scalar
from policy.identity.users import Principal
from streams.camera import Camera

routes = web.RouteTableDef()
MAX_BODY = 4096
MAX_PRESET_NAME = 64


async def _allowed(request: web.Request) -> tuple[Camera, Principal]:
    """The camera in the path, if the caller may see it (else 404) and move it (else 403, logged)."""
    camera_id = request.match_info["camera_id"]
    services = request.app[SERVICES]
    camera = services.cameras.get(camera_id)
    if camera is None:
        signed_in(request)
        raise NotFound(f"no camera {camera_id!r}")
    await authorize(request, Action.VIEW_CAMERA, camera, log_allowed=False, hide_camera=True)
    who, _ = await authorize(request, Action.PTZ, camera, log_allowed=False)
    return camera, who


async def _control(request: web.Request, camera: Camera) -> PtzControl:
    source = onvif_source(camera)
    if source is None:
        raise Conflict(
            f"camera {camera.id!r} is not an ONVIF camera (its source is not onvif://); PTZ needs ONVIF"
        )
    sessions = request.app[SERVICES].ptz
    profile = source.device.profile if source.device is not None else None
    return await sessions.control(camera.id, source.client, profile)


async def _command(
    request: web.Request, camera: Camera, who: Principal, command: str, details: dict[str, Scalar], run: Any
) -> Any:
    """Carry out `run(control)` and log the command with its outcome."""
    services = request.app[SERVICES]
    outcome: str = "error"
    reason = ""
    try:
        control = await _control(request, camera)
        result = await run(control)
        outcome = "ok"
        return result
    except PantauError as exc:
        outcome, reason = "error", exc.detail
        if isinstance(exc, OnvifError):
            await services.ptz.forget(camera.id)  # reconnect on the next command
        raise
    finally:
        await services.access_log.record(
            AccessEvent(
                AccessAction.PTZ,
                actor=who.username,
                role=who.role,
                client=request.remote,
                camera=camera.id,
                outcome=outcome,  # type: ignore[arg-type]
                reason=reason,
                details={"command": command, **details},
            )
        )


def _number(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadRequest(f"{key} must be a number")
    return float(value)


def _status(status: PtzStatus) -> dict[str, Any]:
    return {"pan": status.pan, "tilt": status.tilt, "zoom": status.zoom, "moving": status.moving}


@routes.get("/api/v1/cameras/{camera_id}/ptz")
async def ptz_info(request: web.Request) -> web.Response:
    """What the camera's PTZ can do (modes and ranges, presets, home) and where it points now."""
    camera, _ = await _allowed(request)
    try:
        control = await _control(request, camera)
        caps = await control.capabilities()
        status = await control.status()
    except OnvifError:
        ptz = request.app[SERVICES].ptz
        if ptz is not None:
            await ptz.forget(camera.id)
        raise

    def ranges(spaces: dict[MoveMode, Any], axes: tuple[str, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for mode, space in spaces.items():
            limits = [space.x, space.y or space.x]
            out[mode.value] = {axis: [r.low, r.high] for axis, r in zip(axes, limits, strict=False)}
        return out

    pan_tilt = ranges(caps.pan_tilt, ("pan", "tilt"))
    zoom = ranges(caps.zoom, ("zoom",))
    return web.json_response(
        {
            "camera": camera.id,
            "profile": caps.profile,
            "modes": [m.value for m in caps.modes],
            "ranges": {m: {**pan_tilt.get(m, {}), **zoom.get(m, {})} for m in (x.value for x in caps.modes)},
            "timeout_s": [caps.timeout.low, caps.timeout.high],
            "max_presets": caps.max_presets,
            "home": caps.home_supported,
            "status": _status(status),
        }
    )


@routes.post("/api/v1/cameras/{camera_id}/ptz/move")
async def move(request: web.Request) -> web.Response:
    """Continuous (velocities), relative (offsets) or absolute (position) move."""
    camera, who = await _allowed(request)
    body = await read_json(request, MAX_BODY)
    unknown = set(body) - {"mode", "pan", "tilt", "zoom", "timeout_s"}
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(sorted(unknown))}")
    try:
        mode = MoveMode(str(body.get("mode")))
    except ValueError as exc:
        raise Unprocessable("mode must be continuous, relative or absolute") from exc
    ptz_move = PtzMove(
        mode, _number(body, "pan"), _number(body, "tilt"), _number(body, "zoom"), _number(body, "timeout_s")
    )
    details: dict[str, Scalar] = {
        "mode": mode.value, "pan": ptz_move.pan, "tilt": ptz_move.tilt, "zoom": ptz_move.zoom,
        "timeout_s": ptz_move.timeout_s,
    }
    await _command(request, camera, who, "move", details, lambda c: c.move(ptz_move))
    return web.Response(status=204)


@routes.post("/api/v1/cameras/{camera_id}/ptz/stop")
async def stop(request: web.Request) -> web.Response:
    """Stop every axis."""
    camera, who = await _allowed(request)
    await _command(request, camera, who, "stop", {}, lambda c: c.stop())
    return web.Response(status=204)


@routes.post("/api/v1/cameras/{camera_id}/ptz/home")
async def home(request: web.Request) -> web.Response:
    """Go to the home position."""
    camera, who = await _allowed(request)
    await _command(request, camera, who, "home", {}, lambda c: c.home())
    return web.Response(status=204)


@routes.get("/api/v1/cameras/{camera_id}/ptz/presets")
async def list_presets(request: web.Request) -> web.Response:
    """The presets stored in the camera."""
    camera, _ = await _allowed(request)
    try:
        presets = await (await _control(request, camera)).presets()
    except OnvifError:
        ptz = request.app[SERVICES].ptz
        if ptz is not None:
            await ptz.forget(camera.id)
        raise
    return web.json_response(
        {
            "camera": camera.id,
            "presets": [
                {"token": p.token, "name": p.name, "pan": p.pan, "tilt": p.tilt, "zoom": p.zoom} for p in presets
            ],
        }
    )


@routes.post("/api/v1/cameras/{camera_id}/ptz/presets")
async def set_preset(request: web.Request) -> web.Response:
    """Store the current position as a preset: {"name": ...}, or {"name", "token"} to overwrite one."""
    camera, who = await _allowed(request)
    body = await read_json(request, MAX_BODY)
    unknown = set(body) - {"name", "token"}
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(sorted(unknown))}")
    name, token = body.get("name"), body.get("token")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_PRESET_NAME:
        raise BadRequest(f"name must be a non-empty string of at most {MAX_PRESET_NAME} characters")
    if token is not None and (not isinstance(token, str) or not token):
        raise BadRequest("token must be a non-empty string")
    name = name.strip()
    saved = await _command(
        request, camera, who, "set_preset", {"name": name, "preset": token}, lambda c: c.set_preset(name, token)
    )
    return web.json_response({"token": saved, "name": name}, status=201)


@routes.post("/api/v1/cameras/{camera_id}/ptz/presets/{token}/goto")
async def goto_preset(request: web.Request) -> web.Response:
    """Move to a stored preset."""
    camera, who = await _allowed(request)
    token = request.match_info["token"]
    await _command(request, camera, who, "goto_preset", {"preset": token}, lambda c: c.goto_preset(token))
    return web.Response(status=204)
