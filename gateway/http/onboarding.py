"""Onboarding: `POST /api/v1/cameras` adds a camera (e.g. one found by ONVIF discovery) while running;
`PATCH /api/v1/cameras/{id}` changes one that was added so, and restarts it with the change.
A shorter retention is the exception: it waits for a second person (gateway/http/retention.py).

There is no DELETE on purpose: the SOP forbids deleting recorded data, and a camera's
recordings are reached through its id. `enabled: false` takes a camera out of service and
keeps it, and its recordings, listed until retention ends them.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import ValidationError

from core.config import CameraConfig, below_floor
from core.errors import BadRequest, Conflict, NotFound, Unprocessable
from core.schemes import onvif_url
from fleet.camerafleet import CameraFleet
from fleet.camerastore import CameraStore
from fleet.retentionchanges import RetentionChange
from gateway.http.body import read_json
from gateway.http.destinationcheck import check_camera
from gateway.http.guard import authorize
from gateway.http.appkeys import SERVICES
from gateway.http.views import camera_detail, iso
from gateway.services import Services
from policy.decision import Action
from policy.audit.entries import AccessAction, AccessEvent
from policy.identity.users import Principal

routes = web.RouteTableDef()

MAX_BODY = 16 * 1024
ONVIF_KEYS = frozenset({"address", "username", "password", "profile"})


def onvif_source(spec: Any) -> str:
    """`onvif://user:pass@host:port/?profile=...` from a discovered device's address and credentials.

    `address` is what discovery lists: `host`, `host:port` or the device service URL
    (`http://host:port/onvif/device_service`).
    """
    if not isinstance(spec, dict) or not spec.keys() <= ONVIF_KEYS or "address" not in spec:
        raise BadRequest(f"onvif must be an object with address and optionally {sorted(ONVIF_KEYS - {'address'})}")
    if not all(isinstance(v, str) for v in spec.values()):
        raise BadRequest("onvif: every value must be a string")
    address = spec["address"].strip()
    parts = urlsplit(address if "://" in address else f"http://{address}")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise BadRequest("onvif.address must be host[:port] or the device's http(s) service URL, without credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise BadRequest("onvif.address has an invalid port") from exc
    return onvif_url(parts.hostname, port, spec.get("username", ""), spec.get("password", ""),
                     spec.get("profile", "main"))


def camera_config(body: dict[str, Any]) -> CameraConfig:
    """The new camera's config from the request body (same keys as a `cameras:` entry in YAML)."""
    fields = dict(body)
    if "onvif" in fields:
        if "source" in fields:
            raise BadRequest("give either source or onvif, not both")
        fields["source"] = onvif_source(fields.pop("onvif"))
    try:
        return CameraConfig.model_validate(fields)
    except ValidationError as exc:
        # Messages name the key; input values are left out (a source carries credentials).
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in exc.errors()
        )
        raise Unprocessable(problems) from exc


def within_floor(cfg: CameraConfig, floor_days: float) -> CameraConfig:
    """`cfg`, unless its retention is under `recording.min_retention_days` (422: no setting may
    shorten a camera's recordings below the floor)."""
    if cfg.retention_days is not None and cfg.retention_days < floor_days:
        raise Unprocessable(f"retention_days: {below_floor(cfg.retention_days, floor_days)}")
    return cfg


async def _admin(request: web.Request) -> tuple[Principal, Services, CameraFleet, CameraStore]:
    """The admin asking, and the parts that add and change cameras."""
    who, _ = await authorize(request, Action.ADMINISTER, log_allowed=False)
    services = request.app[SERVICES]
    return who, services, services.fleet, services.camera_store


@routes.post("/api/v1/cameras")
async def add_camera(request: web.Request) -> web.Response:
    """Add a camera, store it and start it now (admin); 201 with the camera and its Location."""
    who, services, fleet, store = await _admin(request)
    cfg = within_floor(camera_config(await read_json(request, MAX_BODY)), services.settings.recording.min_retention_days)
    await check_camera(request, who, cfg)
    if cfg.id in fleet.cameras:
        raise Conflict(f"camera {cfg.id!r} already exists")
    await store.add(cfg, who.username)
    await services.access_log.record(
        AccessEvent(AccessAction.CONFIG_CHANGED, actor=who.username, role=who.role, client=request.remote,
                    camera=cfg.id, reason="camera added",
                    details={"camera": cfg.id, "source": cfg.display_source, "record": cfg.record})
    )
    camera = await fleet.add(cfg)
    return web.json_response(
        camera_detail(camera, services.clock.monotonic(), services.configured_cameras), status=201,
        headers={"Location": f"/api/v1/cameras/{cfg.id}"},
    )


MERGE_PATCH = ("application/merge-patch+json", "application/json")


def patched(cfg: CameraConfig, patch: dict[str, Any]) -> CameraConfig:
    """`cfg` with a JSON merge patch (RFC 7396) applied: a key's value replaces it, `null`
    puts it back to its default, `onvif` replaces the source as in POST. The id stays."""
    if patch.get("id", cfg.id) != cfg.id:
        raise BadRequest("a camera's id cannot change: its recordings and access log entries are filed under it")
    fields = json.loads(cfg.model_dump_json())
    if "onvif" in patch:
        if "source" in patch:
            raise BadRequest("give either source or onvif, not both")
        del fields["source"]
    for key, value in patch.items():
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = value
    return camera_config(fields)


def retention_in_force(cfg: CameraConfig, services: Services) -> float:
    """The retention `cfg` puts in force: its own or the default, never under the floor."""
    rec = services.settings.recording
    days = cfg.retention_days if cfg.retention_days is not None else rec.retention_days
    return max(days, rec.min_retention_days)


async def apply_change(request: web.Request, who: Principal, stored: CameraConfig, cfg: CameraConfig,
                       reason: str = "camera changed", **details: str) -> web.Response:
    """Store `cfg` in place of `stored`, log it as a config change and restart the camera with it
    (the caller holds `store.changing`); 200 with the camera."""
    services = request.app[SERVICES]
    before, after = stored.model_dump(), cfg.model_dump()
    changed = sorted(key for key in after if before.get(key) != after[key])
    if changed:
        await services.camera_store.update(cfg)
        await services.access_log.record(
            AccessEvent(AccessAction.CONFIG_CHANGED, actor=who.username, role=who.role, client=request.remote,
                        camera=cfg.id, reason=reason,
                        details={"camera": cfg.id, "changed": ",".join(changed), "source": cfg.display_source,
                                 "enabled": cfg.enabled, "record": cfg.record, **details})
        )
        camera = await services.fleet.replace(cfg)
    else:  # nothing to do: no restart, no log entry
        camera = services.fleet.cameras[cfg.id]
    return web.json_response(camera_detail(camera, services.clock.monotonic(), services.configured_cameras))


@routes.patch("/api/v1/cameras/{camera_id}")
async def change_camera(request: web.Request) -> web.Response:
    """Change an onboarded camera (admin) and restart it with the change; 200 with the camera. A
    shorter retention is not applied: 202 with the pending change a second person decides."""
    who, services, fleet, store = await _admin(request)
    camera_id = request.match_info["camera_id"]
    patch = await read_json(request, MAX_BODY, MERGE_PATCH)
    if camera_id in services.configured_cameras:
        raise Conflict(f"camera {camera_id!r} comes from the config file (or --demo), not from "
                       "POST /api/v1/cameras; change it there and restart")
    async with store.changing:
        stored = await store.get(camera_id)
        if stored is None or camera_id not in fleet.cameras:
            raise NotFound(f"no camera {camera_id!r}")
        cfg = within_floor(patched(stored, patch), services.settings.recording.min_retention_days)
        await check_camera(request, who, cfg)
        now_days, new_days = retention_in_force(stored, services), retention_in_force(cfg, services)
        if new_days < now_days:
            return await _ask_shortening(request, who, stored, cfg, patch, now_days, new_days)
        return await apply_change(request, who, stored, cfg)


async def _ask_shortening(request: web.Request, who: Principal, stored: CameraConfig, cfg: CameraConfig,
                          patch: dict[str, Any], now_days: float, new_days: float) -> web.Response:
    """A shorter retention deletes footage sooner: stored as a pending change for a second person
    (`access.retention_approver_roles`), logged; 202 with the change."""
    if set(patch) != {"retention_days"}:
        raise Unprocessable("a shorter retention_days waits for a second person's approval: send it alone, "
                            "without other changes")
    services = request.app[SERVICES]
    change = await services.retention_changes.request(stored.id, now_days, cfg.retention_days, new_days, who.username)
    await services.access_log.record(
        AccessEvent(AccessAction.RETENTION_CHANGE_REQUESTED, actor=who.username, role=who.role, client=request.remote,
                    camera=stored.id, reason="a shorter retention waits for a second person",
                    request_id=change.id,
                    details={"camera": stored.id, "from_days": now_days, "to_days": new_days})
    )
    return web.json_response(change_view(change), status=202,
                             headers={"Location": f"/api/v1/retention-changes/{change.id}"})


def change_view(change: RetentionChange) -> dict[str, Any]:
    """A retention change as the API shows it."""
    return {
        "id": change.id, "camera": change.camera_id, "state": change.state.value,
        "from_days": change.from_days, "to_days": change.effective_days,
        "retention_days": change.to_days, "requested_by": change.requested_by,
        "requested_at": iso(change.requested_at), "decided_by": change.decided_by,
        "decided_at": iso(change.decided_at), "note": change.note,
    }
