"""Where a camera is ingested, for the API and live WHEP: on this node, on another node (its
advertised URL), or on none right now (between leases). A single process ingests every camera."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from cluster.owners import NodeRef
from core.errors import Unavailable
from gateway.services import Services


def live_path(camera_id: str) -> str:
    """The path of a camera's live WHEP endpoint."""
    return f"/whep/live/{quote(camera_id, safe='')}"


def owner_elsewhere(services: Services, camera_id: str) -> tuple[bool, NodeRef | None]:
    """(ingested here, the other node that ingests it): (True, None) here, (False, node) on another
    node, (False, None) on none right now. A lease this node's fleet has not taken up (or has just
    let go) counts as none: it changes within a renewal."""
    if services.fleet.ingests(camera_id):
        return True, None
    owners = services.owners
    owner = owners.owner_of(camera_id) if owners is not None else None
    if owner is None or owner.node_id == services.node_id or not owner.url:
        return False, None
    return False, owner


def placement_json(services: Services, camera_id: str) -> dict[str, Any]:
    """`node` (id, url, here) and `live_url` (where the wall opens live WHEP: a path on this node,
    the owner's absolute URL, or null while no node ingests the camera)."""
    if services.owners is None:  # a single process (or a node whose cluster tasks have not started)
        return {"node": None, "live_url": live_path(camera_id)}
    here, owner = owner_elsewhere(services, camera_id)
    if here:
        url = services.owners.nodes.get(services.node_id or "")
        node = {"id": services.node_id, "url": url.url if url is not None else None, "here": True}
        return {"node": node, "live_url": live_path(camera_id)}
    if owner is None:
        return {"node": None, "live_url": None}
    return {"node": {"id": owner.node_id, "url": owner.url, "here": False},
            "live_url": owner.url + live_path(camera_id)}


def route_live(request: web.Request, services: Services, camera_id: str) -> None:
    """Live WHEP for a camera another node ingests: 307 to the same path and query on that node
    (WHEP clients follow it); 503 with Retry-After while no node does. Returns when it is here."""
    if services.owners is None:
        return
    here, owner = owner_elsewhere(services, camera_id)
    if here:
        return
    if owner is None:
        raise Unavailable(f"camera {camera_id!r} is between nodes (no node holds its lease right now)",
                          retry_after_s=services.settings.cluster.renew_s * 2)
    location = owner.url + request.rel_url.raw_path_qs
    raise web.HTTPTemporaryRedirect(location, headers={"Cache-Control": "no-store"})
