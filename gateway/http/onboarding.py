"""Onboarding: `POST /api/v1/cameras` adds a camera (e.g. one found by ONVIF discovery) while running."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web
from pydantic import ValidationError

from core.config import CameraConfig
from core.errors import BadRequest, Conflict, Unavailable, Unprocessable
from gateway.http.body import read_json
from gateway.http.guard import authorize
from gateway.http.keys import SERVICES
from gateway.http.views import camera_detail
from policy.decision import Action
from policy.events import AccessAction, AccessEvent

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
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    user, password = spec.get("username", ""), spec.get("password", "")
    auth = f"{quote(user, safe='')}:{quote(password, safe='')}@" if user else ""
    profile = quote(spec.get("profile", "main"), safe="")
    return f"onvif://{auth}{host}:{port}/?profile={profile}"


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


@routes.post("/api/v1/cameras")
async def add_camera(request: web.Request) -> web.Response:
    """Add a camera, store it and start it now (admin); 201 with the camera and its Location."""
    who, _ = await authorize(request, Action.ADMINISTER, log_allowed=False)
    services = request.app[SERVICES]
    if services.fleet is None or services.camera_store is None:
        raise Unavailable("cameras cannot be added: the gateway is not running them")
    cfg = camera_config(await read_json(request, MAX_BODY))
    if cfg.id in services.fleet.cameras:
        raise Conflict(f"camera {cfg.id!r} already exists")
    await services.camera_store.add(cfg, who.username)
    await services.access_log.record(
        AccessEvent(AccessAction.CONFIG_CHANGED, actor=who.username, role=who.role, client=request.remote,
                    camera=cfg.id, reason="camera added",
                    details={"camera": cfg.id, "source": cfg.display_source, "record": cfg.record})
    )
    camera = await services.fleet.add(cfg)
    return web.json_response(
        camera_detail(camera, services.clock.monotonic()), status=201,
        headers={"Location": f"/api/v1/cameras/{cfg.id}"},
    )
